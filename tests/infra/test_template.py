"""infra/template.yaml: cfn-lint, the security settings of the design, and its loader."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from chalicelib.config import TABLES
from infra import definitions
from infra.definitions import Intrinsic

TEMPLATE = definitions.load_template()
PARAMS = definitions.parameter_values(
    TEMPLATE, stage="test", account_id="123456789012", region="eu-central-1"
)
CONDITIONS = definitions.evaluate_conditions(TEMPLATE, PARAMS)
PREFIX = "sides-portal-test"


def props_of(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: definitions.resolve(resource["Properties"], PARAMS, CONDITIONS)
        for logical_id, resource in definitions.resources_of_type(TEMPLATE, resource_type).items()
    }


TABLES_BY_NAME = {
    props["TableName"].removeprefix(f"{PREFIX}-"): props
    for props in props_of("AWS::DynamoDB::Table").values()
}
BUCKETS = props_of("AWS::S3::Bucket")
BUCKET = BUCKETS["InvoiceBucket"]
WEB_BUCKET = BUCKETS["WebBucket"]
(POOL,) = props_of("AWS::Cognito::UserPool").values()
(CLIENT,) = props_of("AWS::Cognito::UserPoolClient").values()
QUEUES = props_of("AWS::SQS::Queue")
RULES = props_of("AWS::Events::Rule")
QUEUE_POLICIES = props_of("AWS::SQS::QueuePolicy")


def test_cfn_lint_reports_nothing() -> None:
    config = ManualArgs(regions=["eu-central-1"], include_checks=["I"])

    matches = lint_file(definitions.TEMPLATE_PATH, config=config)

    assert [str(match) for match in matches] == []


def test_every_named_resource_carries_the_stage_prefix() -> None:
    name_keys = (
        "TableName", "BucketName", "UserPoolName", "ClientName", "QueueName", "Name",
        "FunctionName", "AlarmName", "TopicName", "LogGroupName",
    )  # fmt: skip
    for resource_type in {r["Type"] for r in TEMPLATE["Resources"].values()}:
        for logical_id, props in props_of(resource_type).items():
            # secrets use the path form (prefix/name), log groups Lambda's, the rest prefix-name
            separator = "/" if resource_type == "AWS::SecretsManager::Secret" else "-"
            for key in set(name_keys) & set(props):
                name = str(props[key]).removeprefix("/aws/lambda/")
                assert name.startswith(f"{PREFIX}{separator}"), (logical_id, key)


# --- DynamoDB -------------------------------------------------------------------------------


def test_the_tables_are_the_ones_the_app_reads() -> None:
    assert set(TABLES_BY_NAME) == set(TABLES)


@pytest.mark.parametrize("name", sorted(TABLES_BY_NAME))
def test_table_is_on_demand_encrypted_and_recoverable(name: str) -> None:
    table = TABLES_BY_NAME[name]

    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


@pytest.mark.parametrize("name", sorted(TABLES_BY_NAME))
def test_table_defines_exactly_the_key_attributes(name: str) -> None:
    table = TABLES_BY_NAME[name]
    schemas = [table["KeySchema"]] + [
        gsi["KeySchema"] for gsi in table.get("GlobalSecondaryIndexes", [])
    ]

    used = {key["AttributeName"] for schema in schemas for key in schema}

    assert {a["AttributeName"] for a in table["AttributeDefinitions"]} == used


def test_ttl_is_on_where_items_expire() -> None:
    ttl = {
        name: table["TimeToLiveSpecification"]["AttributeName"]
        for name, table in TABLES_BY_NAME.items()
        if table.get("TimeToLiveSpecification", {}).get("Enabled")
    }

    assert ttl == {
        "invitations": "purge_at",
        "rate_limits": "expires_at",
        "processed_events": "expires_at",
        "idempotency": "expiration",
    }


def test_idempotency_table_has_the_powertools_default_schema() -> None:
    idempotency = pytest.importorskip("aws_lambda_powertools.utilities.idempotency")
    defaults = inspect.signature(idempotency.DynamoDBPersistenceLayer.__init__).parameters
    table = TABLES_BY_NAME["idempotency"]

    assert table["KeySchema"] == [
        {"AttributeName": defaults["key_attr"].default, "KeyType": "HASH"}
    ]
    assert table["TimeToLiveSpecification"]["AttributeName"] == defaults["expiry_attr"].default


def test_invoice_indexes() -> None:
    indexes = {
        gsi["IndexName"]: (
            [key["AttributeName"] for key in gsi["KeySchema"]],
            gsi["Projection"]["ProjectionType"],
        )
        for gsi in TABLES_BY_NAME["invoices"]["GlobalSecondaryIndexes"]
    }

    assert indexes == {
        "by_store": (["store_id", "list_key"], "ALL"),
        "by_store_status": (["store_status", "list_key"], "ALL"),
        "by_period": (["period", "store_id"], "KEYS_ONLY"),
    }


# --- buckets --------------------------------------------------------------------------------


@pytest.mark.parametrize("logical_id", sorted(BUCKETS))
def test_bucket_is_private(logical_id: str) -> None:
    bucket = BUCKETS[logical_id]

    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


@pytest.mark.parametrize("logical_id", sorted(BUCKETS))
def test_bucket_is_encrypted(logical_id: str) -> None:
    (rule,) = BUCKETS[logical_id]["BucketEncryption"]["ServerSideEncryptionConfiguration"]

    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


def test_invoice_bucket_is_versioned_and_kept() -> None:
    resource = TEMPLATE["Resources"]["InvoiceBucket"]

    assert BUCKET["VersioningConfiguration"] == {"Status": "Enabled"}
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_bucket_locks_invoices_for_eight_years() -> None:
    assert BUCKET["ObjectLockEnabled"] is True
    assert BUCKET["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 8}},
    }


@pytest.mark.parametrize(
    ("policy_id", "bucket_id"),
    [("InvoiceBucketPolicy", "InvoiceBucket"), ("WebBucketPolicy", "WebBucket")],
)
def test_bucket_policy_denies_plain_http(policy_id: str, bucket_id: str) -> None:
    policy = props_of("AWS::S3::BucketPolicy")[policy_id]
    bucket = BUCKETS[bucket_id]
    bucket_arn = f"arn:aws:s3:::{bucket['BucketName']}"
    resolved = definitions.resolve(
        policy, {**PARAMS, bucket_id: bucket["BucketName"], f"{bucket_id}.Arn": bucket_arn}
    )

    denies = [
        statement
        for statement in resolved["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Deny"
        and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]

    assert resolved["Bucket"] == bucket["BucketName"]
    assert [set(d["Resource"]) for d in denies] == [{bucket_arn, f"{bucket_arn}/*"}]


# --- Cognito --------------------------------------------------------------------------------


def test_user_pool_admits_owners_by_invitation_only() -> None:
    assert POOL["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert POOL["DeletionProtection"] == "ACTIVE"


def test_user_pool_usernames_are_case_insensitive_emails() -> None:
    assert POOL["UsernameAttributes"] == ["email"]
    assert POOL["UsernameConfiguration"] == {"CaseSensitive": False}
    assert POOL["AutoVerifiedAttributes"] == ["email"]
    assert POOL["AccountRecoverySetting"] == {
        "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
    }


def test_user_pool_password_policy_is_strong() -> None:
    policy = POOL["Policies"]["PasswordPolicy"]

    assert policy["MinimumLength"] >= 12
    assert policy["RequireUppercase"] is True
    assert policy["RequireLowercase"] is True
    assert policy["RequireNumbers"] is True
    assert policy["TemporaryPasswordValidityDays"] <= 7


def test_user_pool_speaks_german() -> None:
    template = POOL["VerificationMessageTemplate"]

    assert "dein Code zum Zurücksetzen des Passworts lautet {####}" in template["EmailMessage"]
    assert template["DefaultEmailOption"] == "CONFIRM_WITH_CODE"


def test_user_pool_mails_through_ses_only_when_asked() -> None:
    with_ses = definitions.resolve(
        TEMPLATE["Resources"]["UserPool"]["Properties"]["EmailConfiguration"],
        PARAMS,
        definitions.evaluate_conditions(TEMPLATE, {**PARAMS, "CognitoEmailViaSes": "true"}),
    )

    assert POOL["EmailConfiguration"]["EmailSendingAccount"] == "COGNITO_DEFAULT"
    assert with_ses["EmailSendingAccount"] == "DEVELOPER"
    assert with_ses["SourceArn"] == (
        "arn:aws:ses:eu-central-1:123456789012:identity/portal@sides.example"
    )


def test_client_hides_user_existence_and_has_no_secret() -> None:
    assert CLIENT["PreventUserExistenceErrors"] == "ENABLED"
    assert CLIENT["GenerateSecret"] is False
    assert CLIENT["EnableTokenRevocation"] is True
    assert set(CLIENT["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }
    assert (CLIENT["AccessTokenValidity"], CLIENT["TokenValidityUnits"]["AccessToken"]) == (
        60,
        "minutes",
    )


# --- events and queues ----------------------------------------------------------------------


def _queue_of(arn: Any) -> str:
    assert isinstance(arn, Intrinsic)
    assert arn.name == "Fn::GetAtt"
    assert arn.args[1] == "Arn"
    assert arn.args[0] in QUEUES
    return str(arn.args[0])


TARGETS = [(rule_id, target) for rule_id, rule in RULES.items() for target in rule["Targets"]]


def test_rules_sit_on_the_portal_bus() -> None:
    for rule in RULES.values():
        # !Ref of the bus as EventBusName crashes moto's CloudFormation (design, section 9).
        assert rule["EventBusName"] == Intrinsic("Fn::GetAtt", ["Bus", "Name"])
        assert rule["State"] == "ENABLED"


@pytest.mark.parametrize(("rule_id", "target"), TARGETS, ids=[t["Id"] for _, t in TARGETS])
def test_rule_target_retries_and_dead_letters(rule_id: str, target: dict[str, Any]) -> None:
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    queue = QUEUES[_queue_of(target["Arn"])]
    dead_letter = _queue_of(target["DeadLetterConfig"]["Arn"])

    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == target["DeadLetterConfig"]["Arn"]
    assert QUEUES[dead_letter]["MessageRetentionPeriod"] == 14 * 24 * 3600


EVENTS_SERVICE = {"Service": "events.amazonaws.com"}


@pytest.mark.parametrize(("rule_id", "target"), TARGETS, ids=[t["Id"] for _, t in TARGETS])
def test_rule_may_send_to_its_queue_and_dead_letter_queue(
    rule_id: str, target: dict[str, Any]
) -> None:
    condition = {"ArnEquals": {"aws:SourceArn": Intrinsic("Fn::GetAtt", [rule_id, "Arn"])}}
    allowed: set[str] = set()

    for policy in QUEUE_POLICIES.values():
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow" and statement.get("Condition") == condition:
                assert statement["Principal"] == EVENTS_SERVICE
                assert statement["Action"] == "sqs:SendMessage"
                queues = {_queue_of(arn) for arn in statement["Resource"]}
                assert queues <= {ref.args for ref in policy["Queues"]}
                allowed |= queues

    assert {_queue_of(target["Arn"]), _queue_of(target["DeadLetterConfig"]["Arn"])} <= allowed


def test_queues_admit_eventbridge_only_for_one_rule() -> None:
    for policy in QUEUE_POLICIES.values():
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] == EVENTS_SERVICE
                (source,) = statement["Condition"]["ArnEquals"].values()
                assert source.name == "Fn::GetAtt"
                assert source.args[0] in RULES


def test_queues_deny_plain_http() -> None:
    covered = set()
    for policy in QUEUE_POLICIES.values():
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}:
                assert (statement["Effect"], statement["Action"]) == ("Deny", "sqs:*")
                covered |= {_queue_of(arn) for arn in statement["Resource"]}

    assert covered == set(QUEUES)


def test_every_queue_is_encrypted_with_explicit_timeouts() -> None:
    for logical_id, queue in QUEUES.items():
        assert queue["SqsManagedSseEnabled"] is True, logical_id
        assert "VisibilityTimeout" in queue, logical_id


def test_every_work_queue_has_a_dead_letter_queue() -> None:
    work_queues = {q for q, props in QUEUES.items() if not props["QueueName"].endswith("-dlq")}

    for logical_id in work_queues:
        redrive = QUEUES[logical_id]["RedrivePolicy"]
        assert redrive["maxReceiveCount"] == 5
        assert QUEUES[_queue_of(redrive["deadLetterTargetArn"])]["QueueName"] == (
            QUEUES[logical_id]["QueueName"] + "-dlq"
        )


def test_event_patterns() -> None:
    patterns = {
        rule["Name"].removeprefix(f"{PREFIX}-"): rule["EventPattern"] for rule in RULES.values()
    }

    assert patterns == {
        "payment-events": {
            "source": ["sides.portal.webhooks"],
            "detail-type": ["PaymentProviderEvent"],
        },
        "pos-events": {
            "source": ["sides.portal"],
            "detail-type": [
                "InvoicePaid",
                "StoreAccessChanged",
                "PaymentFailed",
                "PaymentRefunded",
            ],
        },
    }


def test_mail_from_is_an_ses_identity() -> None:
    (identity,) = props_of("AWS::SES::EmailIdentity").values()

    assert identity == {"EmailIdentity": "portal@sides.example"}


def test_outputs_name_what_the_app_needs() -> None:
    outputs = definitions.resolve(
        {key: output["Value"] for key, output in TEMPLATE["Outputs"].items()}, PARAMS
    )

    assert outputs["PortalPrefix"] == PREFIX
    assert outputs["MailFrom"] == "portal@sides.example"
    assert {"InvoiceBucketName", "UserPoolId", "UserPoolClientId", "EventBusName"} <= set(outputs)
    assert definitions.references(TEMPLATE["Outputs"]) <= set(TEMPLATE["Resources"]) | set(PARAMS)


# --- the loader -----------------------------------------------------------------------------


def test_loader_reads_short_and_long_form_intrinsics(tmp_path: Any) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n"
        "  A:\n"
        "    Type: X\n"
        "    Properties:\n"
        "      Short: !GetAtt B.Arn\n"
        "      Long: {'Fn::GetAtt': [B, Arn]}\n"
        "      Sub: !Sub ['${X}-${AWS::Region}-${!Keep}', {X: !Ref Stage}]\n"
        "      Join: !Join ['-', [!Select [1, !Split [',', 'a,b']], c]]\n"
        "      Maybe: !If [Never, x, !Ref AWS::NoValue]\n"
        "      List: [!If [Never, x, !Ref AWS::NoValue], y]\n"
        "      Unknown: !Ref B\n"
    )
    template = definitions.load_template(path)
    params = {"Stage": "dev", "AWS::Region": "eu-central-1"}

    props = definitions.resolve(template["Resources"]["A"]["Properties"], params, {"Never": False})

    assert template["Resources"]["A"]["Properties"]["Long"] == Intrinsic("Fn::GetAtt", ["B", "Arn"])
    assert props == {
        "Short": Intrinsic("Fn::GetAtt", ["B", "Arn"]),
        "Long": Intrinsic("Fn::GetAtt", ["B", "Arn"]),
        "Sub": "dev-eu-central-1-${Keep}",
        "Join": "b-c",
        "List": ["y"],
        "Unknown": Intrinsic("Ref", "B"),
    }
    assert definitions.references(template["Resources"]["A"]) == {
        "B",
        "Stage",
        "AWS::Region",
        "AWS::NoValue",
    }
