"""local/provision.py on a fresh moto server: what moto reports equals what the template says."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from chalicelib.config import load_settings
from infra import definitions
from local.provision import (
    NOT_PROVISIONED_LOCALLY,
    ProvisioningError,
    StackOutputs,
    planned_resources,
    provision,
    settings_env,
)

REGION = "eu-central-1"
ACCOUNT = "123456789012"
STAGE = "local"
TEMPLATE = definitions.load_template()
PLANNED = planned_resources(
    TEMPLATE,
    definitions.evaluate_conditions(
        TEMPLATE,
        definitions.parameter_values(TEMPLATE, stage=STAGE, account_id=ACCOUNT, region=REGION),
    ),
)


def logical_ids(resource_type: str) -> list[str]:
    """The template's resources of that type that exist locally."""
    return sorted(set(definitions.resources_of_type(TEMPLATE, resource_type)) & set(PLANNED))


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def stack(endpoint: str) -> StackOutputs:
    return provision(STAGE, endpoint_url=endpoint, region=REGION, account_id=ACCOUNT)


class Clients:
    def __init__(self, endpoint: str) -> None:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.dynamodb = session.client("dynamodb", endpoint_url=endpoint)
        self.s3 = session.client(
            "s3", endpoint_url=endpoint, config=Config(s3={"addressing_style": "path"})
        )
        self.cognito = session.client("cognito-idp", endpoint_url=endpoint)
        self.events = session.client("events", endpoint_url=endpoint)
        self.sqs = session.client("sqs", endpoint_url=endpoint)
        self.ses = session.client("ses", endpoint_url=endpoint)


@pytest.fixture(scope="module")
def aws(endpoint: str, stack: StackOutputs) -> Clients:
    return Clients(endpoint)


@pytest.fixture(scope="module")
def expected(aws: Clients, stack: StackOutputs) -> dict[str, dict[str, Any]]:
    """The template's resource properties, resolved with the ids and ARNs moto reports."""
    names = definitions.parameter_values(TEMPLATE, stage=STAGE, account_id=ACCOUNT, region=REGION)
    conditions = definitions.evaluate_conditions(TEMPLATE, names)

    def props(logical_id: str) -> Any:
        return definitions.resolve(
            TEMPLATE["Resources"][logical_id]["Properties"], names, conditions
        )

    for logical_id in logical_ids("AWS::SQS::Queue"):
        url = aws.sqs.get_queue_url(QueueName=props(logical_id)["QueueName"])["QueueUrl"]
        attributes = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        names[logical_id] = url
        names[f"{logical_id}.Arn"] = attributes["Attributes"]["QueueArn"]
    for logical_id in logical_ids("AWS::Events::EventBus"):
        bus = aws.events.describe_event_bus(Name=props(logical_id)["Name"])
        names[logical_id] = names[f"{logical_id}.Name"] = bus["Name"]
    for logical_id in logical_ids("AWS::S3::Bucket"):
        names[logical_id] = props(logical_id)["BucketName"]
        names[f"{logical_id}.Arn"] = f"arn:aws:s3:::{names[logical_id]}"
    for logical_id in logical_ids("AWS::Events::Rule"):
        rule = props(logical_id)
        described = aws.events.describe_rule(Name=rule["Name"], EventBusName=rule["EventBusName"])
        names[f"{logical_id}.Arn"] = described["Arn"]
    (pool,) = logical_ids("AWS::Cognito::UserPool")
    names[pool] = stack["user_pool_id"]

    resolved = {logical_id: props(logical_id) for logical_id in PLANNED}
    assert definitions.is_resolved(resolved)
    return resolved


def _contains(actual: Any, wanted: Any) -> bool:
    """Every key the template sets has the template's value; moto may report more keys."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and _contains(actual[key], value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(_contains(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return bool(actual == wanted)


# --- the outputs ----------------------------------------------------------------------------


def test_outputs_name_the_local_stack(stack: StackOutputs, endpoint: str) -> None:
    assert stack["prefix"] == "sides-portal-local"
    assert stack["region"] == REGION
    assert stack["invoice_bucket"] == f"sides-portal-local-invoices-{ACCOUNT}"
    assert stack["event_bus_name"] == "sides-portal-local-portal"
    assert stack["mail_from"] == "portal@sides.example"
    assert set(stack["queues"]) == {
        f"{name}{suffix}"
        for name in ("payment-events", "charge-store", "issue-store", "pos-events")
        for suffix in ("", "-dlq")
    } | {"monthly-billing-dlq", "dunning-dlq"}
    assert all(url.startswith(endpoint) for url in stack["queues"].values())


def test_settings_env_is_what_the_app_reads(
    stack: StackOutputs, endpoint: str, aws: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in settings_env(stack, endpoint).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PORTAL_URL", "http://127.0.0.1:8000")

    settings = load_settings()

    assert settings.aws_endpoint_url == endpoint
    assert settings.region == REGION
    for name in ("stores", "invoices", "idempotency"):
        assert aws.dynamodb.describe_table(TableName=settings.table(name))["Table"]
    assert aws.cognito.describe_user_pool(UserPoolId=settings.user_pool_id)["UserPool"]
    assert aws.events.describe_event_bus(Name=settings.event_bus_name)["Name"]


def test_provisioning_twice_fails_clearly_and_creates_nothing(
    stack: StackOutputs, endpoint: str, aws: Clients
) -> None:
    with pytest.raises(ProvisioningError, match="already provisioned"):
        provision(STAGE, endpoint_url=endpoint, region=REGION)

    assert len(aws.cognito.list_user_pools(MaxResults=60)["UserPools"]) == 1


def test_a_property_local_provisioning_cannot_apply_fails_before_creating_anything(
    stack: StackOutputs, endpoint: str, aws: Clients
) -> None:
    template = copy.deepcopy(TEMPLATE)
    queue = template["Resources"]["PosEventsDeadLetterQueue"]["Properties"]
    queue["SomeFutureProperty"] = True

    with pytest.raises(ProvisioningError, match="SomeFutureProperty"):
        provision("drift", endpoint_url=endpoint, region=REGION, template=template)

    assert not [t for t in aws.dynamodb.list_tables()["TableNames"] if "-drift-" in t]


def test_what_exists_only_in_aws_is_not_provisioned(stack: StackOutputs, aws: Clients) -> None:
    aws_only = {
        logical_id
        for logical_id, resource in TEMPLATE["Resources"].items()
        if resource["Type"] in NOT_PROVISIONED_LOCALLY
    }
    web_bucket = definitions.resolve(
        TEMPLATE["Resources"]["WebBucket"]["Properties"]["BucketName"],
        definitions.parameter_values(TEMPLATE, stage=STAGE, account_id=ACCOUNT, region=REGION),
    )

    assert not aws_only & set(PLANNED)
    # Its policy admits the CloudFront distribution, which exists in AWS only; the bucket does
    # no harm locally (the front server serves web/ from the working tree).
    assert "WebBucketPolicy" not in PLANNED
    with pytest.raises(aws.s3.exceptions.ClientError):
        aws.s3.get_bucket_policy(Bucket=web_bucket)


def test_a_resource_type_local_provisioning_does_not_know_fails_before_creating_anything(
    stack: StackOutputs, endpoint: str, aws: Clients
) -> None:
    template = copy.deepcopy(TEMPLATE)
    template["Resources"]["Future"] = {"Type": "AWS::Some::Thing", "Properties": {}}

    with pytest.raises(ProvisioningError, match="AWS::Some::Thing"):
        provision("unknown", endpoint_url=endpoint, region=REGION, template=template)

    assert not [t for t in aws.dynamodb.list_tables()["TableNames"] if "-unknown-" in t]


# --- DynamoDB -------------------------------------------------------------------------------


def test_exactly_the_template_tables_exist(
    aws: Clients, expected: dict[str, dict[str, Any]]
) -> None:
    tables = {expected[t]["TableName"] for t in logical_ids("AWS::DynamoDB::Table")}

    existing = set(aws.dynamodb.list_tables()["TableNames"])

    assert {t for t in existing if t.startswith("sides-portal-local-")} == tables


def _by_name(items: Sequence[Mapping[str, Any]], key: str) -> dict[str, Any]:
    return {item[key]: item for item in items}


@pytest.mark.parametrize("logical_id", logical_ids("AWS::DynamoDB::Table"))
def test_table_matches_template(
    aws: Clients, expected: dict[str, dict[str, Any]], logical_id: str
) -> None:
    wanted = expected[logical_id]

    table = aws.dynamodb.describe_table(TableName=wanted["TableName"])["Table"]

    assert table["KeySchema"] == wanted["KeySchema"]
    assert _by_name(table["AttributeDefinitions"], "AttributeName") == _by_name(
        wanted["AttributeDefinitions"], "AttributeName"
    )
    assert table["BillingModeSummary"]["BillingMode"] == wanted["BillingMode"]
    assert (table["SSEDescription"]["Status"] == "ENABLED") is wanted["SSESpecification"][
        "SSEEnabled"
    ]
    indexes = {
        gsi["IndexName"]: (gsi["KeySchema"], gsi["Projection"])
        for gsi in table.get("GlobalSecondaryIndexes", [])
    }
    assert indexes == {
        gsi["IndexName"]: (gsi["KeySchema"], gsi["Projection"])
        for gsi in wanted.get("GlobalSecondaryIndexes", [])
    }


@pytest.mark.parametrize("logical_id", logical_ids("AWS::DynamoDB::Table"))
def test_table_backups_and_ttl_match_template(
    aws: Clients, expected: dict[str, dict[str, Any]], logical_id: str
) -> None:
    wanted = expected[logical_id]
    name = wanted["TableName"]

    backups = aws.dynamodb.describe_continuous_backups(TableName=name)
    ttl = aws.dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]

    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert (pitr["PointInTimeRecoveryStatus"] == "ENABLED") is wanted[
        "PointInTimeRecoverySpecification"
    ]["PointInTimeRecoveryEnabled"]
    wanted_ttl = wanted.get("TimeToLiveSpecification", {"Enabled": False})
    assert (ttl["TimeToLiveStatus"] == "ENABLED") is wanted_ttl["Enabled"]
    assert ttl.get("AttributeName") == wanted_ttl.get("AttributeName")


# --- S3 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("logical_id", logical_ids("AWS::S3::Bucket"))
def test_bucket_matches_template(
    aws: Clients, expected: dict[str, dict[str, Any]], logical_id: str
) -> None:
    wanted = expected[logical_id]
    name = wanted["BucketName"]

    encryption = aws.s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]
    public = aws.s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    ownership = aws.s3.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]

    assert aws.s3.get_bucket_versioning(Bucket=name).get("Status") == (
        wanted.get("VersioningConfiguration", {}).get("Status")
    )
    if "ObjectLockConfiguration" in wanted:
        lock = aws.s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
        assert _contains(lock, wanted["ObjectLockConfiguration"])
    else:
        with pytest.raises(aws.s3.exceptions.ClientError):
            aws.s3.get_object_lock_configuration(Bucket=name)
    (rule,) = wanted["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"] == [
        {
            "ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"],
            "BucketKeyEnabled": rule["BucketKeyEnabled"],
        }
    ]
    assert public == wanted["PublicAccessBlockConfiguration"]
    assert ownership == wanted["OwnershipControls"]


@pytest.mark.parametrize("logical_id", logical_ids("AWS::S3::BucketPolicy"))
def test_bucket_policy_matches_template(
    aws: Clients, expected: dict[str, dict[str, Any]], logical_id: str
) -> None:
    wanted = expected[logical_id]

    # Locally there is no TLS, so exactly the TLS-only statements are left out.
    statements = [
        s
        for s in wanted["PolicyDocument"]["Statement"]
        if "aws:SecureTransport" not in json.dumps(s)
    ]
    if not statements:
        with pytest.raises(aws.s3.exceptions.ClientError):
            aws.s3.get_bucket_policy(Bucket=wanted["Bucket"])
        return
    policy = aws.s3.get_bucket_policy(Bucket=wanted["Bucket"])["Policy"]
    assert json.loads(policy) == {**wanted["PolicyDocument"], "Statement": statements}


# --- Cognito and SES ------------------------------------------------------------------------


def test_user_pool_matches_template(
    aws: Clients, stack: StackOutputs, expected: dict[str, dict[str, Any]]
) -> None:
    (logical_id,) = logical_ids("AWS::Cognito::UserPool")
    wanted = dict(expected[logical_id])

    pool = aws.cognito.describe_user_pool(UserPoolId=stack["user_pool_id"])["UserPool"]

    assert pool["Name"] == wanted.pop("UserPoolName")
    schema = _by_name(wanted.pop("Schema"), "Name")
    assert _contains(_by_name(pool["SchemaAttributes"], "Name"), schema)
    # EnabledMfas (CloudFormation) is the pool's MFA configuration in the API
    if wanted.pop("EnabledMfas", None) == ["SOFTWARE_TOKEN_MFA"]:
        mfa = aws.cognito.get_user_pool_mfa_config(UserPoolId=stack["user_pool_id"])
        assert mfa["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
        assert mfa["MfaConfiguration"] == wanted["MfaConfiguration"]
    for key, value in wanted.items():
        assert _contains(pool.get(key), value), key


def test_user_pool_password_policy_on_moto(aws: Clients, stack: StackOutputs) -> None:
    pool = aws.cognito.describe_user_pool(UserPoolId=stack["user_pool_id"])["UserPool"]

    assert pool["Policies"]["PasswordPolicy"] == {
        "MinimumLength": 12,
        "RequireUppercase": True,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": False,
        "TemporaryPasswordValidityDays": 7,
    }


def test_user_pool_client_matches_template(
    aws: Clients, stack: StackOutputs, expected: dict[str, dict[str, Any]]
) -> None:
    (logical_id,) = logical_ids("AWS::Cognito::UserPoolClient")
    wanted = dict(expected[logical_id])
    generate_secret = wanted.pop("GenerateSecret")

    client = aws.cognito.describe_user_pool_client(
        UserPoolId=stack["user_pool_id"], ClientId=stack["user_pool_client_id"]
    )["UserPoolClient"]

    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert ("ClientSecret" in client) is generate_secret
    for key, value in wanted.items():
        assert _contains(client.get(key), value), key


def test_mail_from_is_a_verified_identity(aws: Clients, stack: StackOutputs) -> None:
    attributes = aws.ses.get_identity_verification_attributes(Identities=[stack["mail_from"]])

    status = attributes["VerificationAttributes"][stack["mail_from"]]["VerificationStatus"]
    assert status == "Success"


# --- EventBridge and SQS --------------------------------------------------------------------


@pytest.mark.parametrize("logical_id", logical_ids("AWS::SQS::Queue"))
def test_queue_matches_template(
    aws: Clients, expected: dict[str, dict[str, Any]], logical_id: str
) -> None:
    wanted = dict(expected[logical_id])
    name = wanted.pop("QueueName")
    url = aws.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    response = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes: dict[str, str] = {str(k): v for k, v in response["Attributes"].items()}

    if "RedrivePolicy" in wanted:
        redrive = json.loads(attributes["RedrivePolicy"])
        want = wanted.pop("RedrivePolicy")
        assert redrive["deadLetterTargetArn"] == want["deadLetterTargetArn"]
        assert int(redrive["maxReceiveCount"]) == want["maxReceiveCount"]
    for key, value in wanted.items():
        assert attributes[key] == (str(value).lower() if isinstance(value, bool) else str(value))


@pytest.mark.parametrize("logical_id", logical_ids("AWS::SQS::QueuePolicy"))
def test_queue_policy_matches_template(
    aws: Clients, expected: dict[str, dict[str, Any]], logical_id: str
) -> None:
    wanted = expected[logical_id]

    for url in wanted["Queues"]:
        attributes = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])
        assert json.loads(attributes["Attributes"]["Policy"]) == wanted["PolicyDocument"]


@pytest.mark.parametrize("logical_id", logical_ids("AWS::Events::Rule"))
def test_rule_matches_template(
    aws: Clients, expected: dict[str, dict[str, Any]], logical_id: str
) -> None:
    wanted = expected[logical_id]
    where = {"EventBusName": wanted["EventBusName"]}

    rule = aws.events.describe_rule(Name=wanted["Name"], **where)
    targets = aws.events.list_targets_by_rule(Rule=wanted["Name"], **where)["Targets"]

    assert json.loads(rule["EventPattern"]) == wanted["EventPattern"]
    assert rule["State"] == wanted["State"]
    assert _by_name(targets, "Id") == _by_name(wanted["Targets"], "Id")


def _receive_one(aws: Clients, url: str) -> dict[str, Any]:
    messages = aws.sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert len(messages) == 1
    aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
    body: dict[str, Any] = json.loads(messages[0]["Body"])
    return body


@pytest.mark.parametrize(
    ("source", "detail_type", "queue"),
    [
        ("sides.portal.webhooks", "PaymentProviderEvent", "payment-events"),
        ("sides.portal", "InvoicePaid", "pos-events"),
        ("sides.portal", "StoreAccessChanged", "pos-events"),
        ("sides.portal", "PaymentFailed", "pos-events"),
    ],
)
def test_events_on_the_bus_reach_their_queue(
    aws: Clients, stack: StackOutputs, source: str, detail_type: str, queue: str
) -> None:
    entry = {
        "EventBusName": stack["event_bus_name"],
        "Source": source,
        "DetailType": detail_type,
        "Detail": json.dumps({"invoice_id": "inv-1"}),
    }

    sent = aws.events.put_events(Entries=[entry])  # type: ignore[list-item]

    assert sent["FailedEntryCount"] == 0
    body = _receive_one(aws, stack["queues"][queue])
    assert (body["source"], body["detail-type"], body["detail"]) == (
        source,
        detail_type,
        {"invoice_id": "inv-1"},
    )
