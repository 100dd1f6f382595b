"""infra/template.yaml beyond the data: functions, IAM, schedules, CloudFront, API, alarms."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from infra import definitions
from infra.definitions import Intrinsic
from local.front import NOT_FOUND

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = definitions.load_template()
PARAMS = definitions.parameter_values(
    TEMPLATE, stage="test", account_id="123456789012", region="eu-central-1"
)
CONDITIONS = definitions.evaluate_conditions(TEMPLATE, PARAMS)
RESOURCES = TEMPLATE["Resources"]


def resolved(value: Any) -> Any:
    return definitions.resolve(value, PARAMS, CONDITIONS)


def props_of(resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resolved(resource["Properties"])
        for logical_id, resource in definitions.resources_of_type(TEMPLATE, resource_type).items()
    }


def get_att(logical_id: str, attribute: str = "Arn") -> Intrinsic:
    return Intrinsic("Fn::GetAtt", [logical_id, attribute])


def ref(name: str) -> Intrinsic:
    return Intrinsic("Ref", name)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


FUNCTIONS = props_of("AWS::Serverless::Function")
ROLES = props_of("AWS::IAM::Role")
QUEUES = props_of("AWS::SQS::Queue")
TABLES = props_of("AWS::DynamoDB::Table")
LOG_GROUPS = props_of("AWS::Logs::LogGroup")
SCHEDULES = props_of("AWS::Scheduler::Schedule")
ALARMS = props_of("AWS::CloudWatch::Alarm")
GLOBALS = resolved(TEMPLATE["Globals"]["Function"])
(DISTRIBUTION,) = (
    p["DistributionConfig"] for p in props_of("AWS::CloudFront::Distribution").values()
)
REST_API = resolved(RESOURCES["RestAPI"]["Properties"])

# What each function may touch in DynamoDB (the API: chalice's APIHandler).
TABLES_BY_FUNCTION = {
    "APIHandler": {
        "StoresTable", "UsersTable", "InvitationsTable", "InvoicesTable", "SupportRequestsTable",
        "RateLimitsTable", "PaymentsTable", "DocumentsTable", "ActivityTable",
        "EmailClaimsTable",  # the owner's own e-mail change moves the claim
    },
    # it issues the receipts: numbered documents (counters), rendered and archived
    "PaymentEventsFunction": {
        "StoresTable", "InvoicesTable", "PaymentsTable", "ProcessedEventsTable",
        "DocumentsTable", "CountersTable", "ActivityTable",
    },
    "ChargeStoreFunction": {"StoresTable", "InvoicesTable", "PaymentsTable", "ActivityTable"},
    # it only lists the stores (Scan) and queues one message per store
    "MonthlyBillingFunction": {"StoresTable"},
    # it issues (counter, invoice, open item) and then charges one store's invoice
    "IssueStoreFunction": {
        "StoresTable", "InvoicesTable", "PaymentsTable", "CountersTable", "ActivityTable",
    },
    "DunningFunction": {"StoresTable", "InvoicesTable", "ActivityTable"},
}  # fmt: skip
UNSCOPED_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}  # no resource-level IAM
DATA_SERVICES = {
    "dynamodb", "s3", "sqs", "secretsmanager", "ses", "events", "cognito-idp", "lambda", "sns",
    "kms",
}  # fmt: skip
MANAGED_CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
MANAGED_ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def role_of(function_id: str) -> str:
    role = FUNCTIONS[function_id]["Role"]
    assert role == get_att(role.args[0]), function_id
    return str(role.args[0])


def statements(role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in ROLES[role_id].get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def allowed(role_id: str, service: str) -> list[tuple[set[str], list[Any]]]:
    """(actions, resources) of the role's Allow statements that name actions of `service`."""
    found = []
    for statement in statements(role_id):
        actions = {a for a in as_list(statement["Action"]) if a.startswith(f"{service}:")}
        if statement["Effect"] == "Allow" and actions:
            found.append((actions, as_list(statement["Resource"])))
    return found


def environment(function_id: str) -> dict[str, Any]:
    own = FUNCTIONS[function_id].get("Environment", {}).get("Variables", {})
    return {**GLOBALS["Environment"]["Variables"], **own}


def sqs_events(function_id: str) -> list[dict[str, Any]]:
    events = FUNCTIONS[function_id].get("Events", {}).values()
    return [event["Properties"] for event in events if event["Type"] == "SQS"]


# --- functions ------------------------------------------------------------------------------


def test_the_functions_are_the_api_and_the_five_handlers() -> None:
    assert {f["Handler"] for f in FUNCTIONS.values()} == {
        "app.app",
        "functions.payment_events.handler.handler",
        "functions.charge_store.handler.handler",
        "functions.monthly_billing.handler.handler",
        "functions.issue_store.handler.handler",
        "functions.dunning.handler.handler",
    }


def test_functions_run_python_on_arm_with_tracing() -> None:
    assert GLOBALS["Runtime"] in ("python3.11", "python3.12")
    assert GLOBALS["Architectures"] == ["arm64"]
    assert GLOBALS["Tracing"] == "Active"
    for function in FUNCTIONS.values():
        # chalice sets these on the API's function itself; the template's values win there.
        for key in ("Runtime", "Architectures", "Tracing"):
            assert function.get(key, GLOBALS[key]) == GLOBALS[key]


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_function_sets_timeout_memory_and_its_log_group(function_id: str) -> None:
    function = FUNCTIONS[function_id]
    log_group = function["LoggingConfig"]["LogGroup"]

    assert isinstance(function["Timeout"], int) and 0 < function["Timeout"] <= 900
    assert isinstance(function["MemorySize"], int) and function["MemorySize"] >= 256
    assert log_group == ref(log_group.args)
    assert LOG_GROUPS[log_group.args]["LogGroupName"] == f"/aws/lambda/{function['FunctionName']}"
    assert LOG_GROUPS[log_group.args]["RetentionInDays"] == PARAMS["LogRetentionInDays"]


def _settings_the_app_reads() -> tuple[set[str], set[str]]:
    source = (ROOT / "chalicelib" / "config.py").read_text()
    required = set(re.findall(r'_required\("([A-Z_]+)"\)', source))
    optional = set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', source))
    return required, optional - required


@pytest.mark.parametrize("function_id", sorted(FUNCTIONS))
def test_function_environment_has_every_setting_the_app_requires(function_id: str) -> None:
    required, optional = _settings_the_app_reads()
    env = environment(function_id)

    # Lambda sets AWS_REGION itself; the rest must come from the stack.
    assert required - {"AWS_DEFAULT_REGION"} <= set(env)
    assert env["PORTAL_PREFIX"] == "sides-portal-test"
    assert env["INVOICE_BUCKET"] == ref("InvoiceBucket")
    assert env["USER_POOL_ID"] == ref("UserPool")
    assert env["EVENT_BUS_NAME"] == get_att("Bus", "Name")
    # The local stand-ins' addresses never reach AWS.
    assert not {"AWS_ENDPOINT_URL", "STRIPE_API_BASE"} & set(env)
    assert {"SUPPORT_EMAIL", "STRIPE_PUBLISHABLE_KEY", "PAYPAL_ENABLED", "PAYPAL_API_BASE"} <= (
        optional & set(env)
    )


def test_powertools_settings() -> None:
    services = {f: environment(f)["POWERTOOLS_SERVICE_NAME"] for f in FUNCTIONS}

    assert len(set(services.values())) == len(FUNCTIONS)
    assert services["APIHandler"] == "portal-api"
    for function_id in FUNCTIONS:
        assert environment(function_id)["POWERTOOLS_METRICS_NAMESPACE"] == "SidesPortal"
        assert environment(function_id)["POWERTOOLS_LOG_LEVEL"] == "INFO"


def test_the_api_does_not_refer_to_the_distribution() -> None:
    # distribution -> API (origin) -> API function: the function taking the distribution's
    # address would close a cycle; PortalUrl is filled in after the first deployment.
    api = RESOURCES["APIHandler"]

    assert "WebDistribution" not in definitions.references(api)
    assert api["Properties"]["Environment"]["Variables"]["PORTAL_URL"] == ref("PortalUrl")


@pytest.mark.parametrize("function_id", [f for f in sorted(FUNCTIONS) if sqs_events(f)], ids=str)
def test_sqs_event_sources_report_partial_batch_failures(function_id: str) -> None:
    for event in sqs_events(function_id):
        queue = QUEUES[event["Queue"].args[0]]

        assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert 1 <= event["BatchSize"] <= 10
        assert 0 <= event["MaximumBatchingWindowInSeconds"] <= 5
        # AWS: a queue's visibility timeout at least six times the consumer's timeout.
        assert queue["VisibilityTimeout"] >= 6 * FUNCTIONS[function_id]["Timeout"]
        assert queue["RedrivePolicy"]["maxReceiveCount"] >= 1


def test_the_work_queues_have_their_consumers() -> None:
    consumed = {e["Queue"].args[0]: f for f in FUNCTIONS for e in sqs_events(f)}

    assert consumed == {
        "PaymentEventsQueue": "PaymentEventsFunction",
        "ChargeStoreQueue": "ChargeStoreFunction",
        "IssueStoreQueue": "IssueStoreFunction",
    }


def test_charges_run_with_bounded_concurrency() -> None:
    (event,) = RESOURCES["ChargeStoreFunction"]["Properties"]["Events"].values()
    parameter = TEMPLATE["Parameters"]["ChargeConcurrency"]

    assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": ref("ChargeConcurrency")}
    assert parameter["Default"] == 10
    assert parameter["MinValue"] >= 2  # the least SQS accepts


def test_only_the_billing_run_carries_the_pdf_library() -> None:
    requirements = {
        logical_id: RESOURCES[logical_id].get("Metadata", {}).get("SidesPortal", {})
        for logical_id in FUNCTIONS
    }

    assert {
        f for f, r in requirements.items() if "requirements-pdf.txt" in r.get("Requirements", [])
    } == {"IssueStoreFunction", "PaymentEventsFunction"}  # invoices; receipts


# --- IAM ------------------------------------------------------------------------------------


def all_identity_statements() -> list[tuple[str, dict[str, Any]]]:
    found = [(role_id, s) for role_id in ROLES for s in statements(role_id)]
    for logical_id, policy in props_of("AWS::IAM::Policy").items():
        found += [(logical_id, s) for s in policy["PolicyDocument"]["Statement"]]
    return found


def test_every_function_runs_with_a_role_of_its_own() -> None:
    roles = [role_of(function_id) for function_id in FUNCTIONS]

    assert len(set(roles)) == len(roles)
    for function in FUNCTIONS.values():
        # SAM's generated roles come with managed policies on "*" (e.g. for SQS sources).
        assert "Policies" not in function
    for role in ROLES.values():
        assert "ManagedPolicyArns" not in role


IDENTITY_STATEMENTS = all_identity_statements()


@pytest.mark.parametrize(
    ("where", "statement"),
    IDENTITY_STATEMENTS,
    ids=[f"{where}-{s.get('Sid', i)}" for i, (where, s) in enumerate(IDENTITY_STATEMENTS)],
)
def test_no_wildcard_actions_and_no_unscoped_data_access(
    where: str, statement: dict[str, Any]
) -> None:
    if statement["Effect"] != "Allow":
        return
    actions = set(as_list(statement["Action"]))

    assert not [a for a in actions if "*" in a], where
    if "*" in as_list(statement["Resource"]):
        assert actions <= UNSCOPED_ACTIONS, where
    assert "NotAction" not in statement and "NotResource" not in statement


@pytest.mark.parametrize("function_id", sorted(TABLES_BY_FUNCTION))
def test_function_reaches_exactly_its_tables(function_id: str) -> None:
    role_id = role_of(function_id)
    tables, indexes = set(), set()
    for actions, resources in allowed(role_id, "dynamodb"):
        if "dynamodb:DeleteItem" in actions:
            # Only a moved e-mail claim is ever deleted: the owner's old address is released.
            assert (function_id, resources) == ("APIHandler", [get_att("EmailClaimsTable")])
            actions = actions - {"dynamodb:DeleteItem"}
        assert actions <= {
            "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
            "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:Query",
            "dynamodb:Scan",
        }  # fmt: skip
        for resource in resources:
            if resource.name == "Fn::GetAtt":
                assert resource.args[0] in TABLES
                tables.add(resource.args[0])
            else:
                assert resource.name == "Fn::Sub"
                table = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/\*", resource.args)
                assert table and table[1] in TABLES
                indexes.add(table[1])
                assert actions == {"dynamodb:Query"}
        if "dynamodb:Scan" in actions:
            assert resources == [get_att("StoresTable")], "only the store list is scanned"

    assert tables == TABLES_BY_FUNCTION[function_id]
    assert indexes == {t for t in tables if TABLES[t].get("GlobalSecondaryIndexes")}


def test_only_the_billing_run_writes_invoice_pdfs_and_only_the_api_reads_them() -> None:
    access = {
        function_id: [(a, r) for a, r in allowed(role_of(function_id), "s3")]
        for function_id in FUNCTIONS
    }
    pdfs = Intrinsic("Fn::Sub", "${InvoiceBucket.Arn}/invoices/*")
    documents = Intrinsic("Fn::Sub", "${InvoiceBucket.Arn}/documents/*")
    exports = Intrinsic("Fn::Sub", "${InvoiceBucket.Arn}/exports/*")

    assert {f: a for f, a in access.items() if a} == {
        "APIHandler": [
            ({"s3:GetObject"}, [pdfs, documents, exports]),
            # the year's ZIP for the accountant, locked for a day only (not 8 years)
            ({"s3:PutObject", "s3:PutObjectRetention"}, [exports]),
        ],
        "IssueStoreFunction": [({"s3:PutObject", "s3:PutObjectRetention"}, [pdfs])],
        # receipts, each locked until the end of its own retention period
        "PaymentEventsFunction": [({"s3:PutObject", "s3:PutObjectRetention"}, [documents])],
    }


def test_mail_is_sent_only_from_the_portal_address() -> None:
    for role_id in ROLES:
        for statement in statements(role_id):
            if any(a.startswith("ses:") for a in as_list(statement["Action"])):
                assert as_list(statement["Action"]) == ["ses:SendRawEmail"]
                assert statement["Condition"] == {
                    "StringEquals": {"ses:FromAddress": "portal@sides.example"}
                }
                (resource,) = as_list(statement["Resource"])
                assert resource == "arn:aws:ses:eu-central-1:123456789012:identity/*"


def test_secrets_events_and_the_user_pool_are_named() -> None:
    secrets = {
        ref("CursorKeySecret"),
        ref("StripeSecret"),
        ref("PayPalSecret"),
        ref("OriginSecret"),
    }
    for role_id in ROLES:
        for actions, resources in allowed(role_id, "secretsmanager"):
            assert actions == {"secretsmanager:GetSecretValue"}
            assert all(r in secrets for r in resources)
        for actions, resources in allowed(role_id, "events"):
            assert (actions, resources) == ({"events:PutEvents"}, [get_att("Bus")])
        for actions, resources in allowed(role_id, "cognito-idp"):
            assert role_id == "ApiRole"
            assert actions == {
                "cognito-idp:AdminCreateUser",
                "cognito-idp:AdminSetUserPassword",
                "cognito-idp:AdminGetUser",
                # the owner's own e-mail change renames the sign-in
                "cognito-idp:AdminUpdateUserAttributes",
            }
            assert resources == [get_att("UserPool")]


def test_queue_access() -> None:
    senders: dict[str, set[str]] = {}
    for function_id in FUNCTIONS:
        for actions, resources in allowed(role_of(function_id), "sqs"):
            for resource in resources:
                queue = resource.args[0]
                if "sqs:ReceiveMessage" in actions:
                    assert any(e["Queue"] == resource for e in sqs_events(function_id))
                if "sqs:SendMessage" in actions:
                    senders.setdefault(queue, set()).add(function_id)

    assert senders == {
        "ChargeStoreQueue": {"DunningFunction"},
        "IssueStoreQueue": {"MonthlyBillingFunction"},
        "MonthlyBillingDeadLetterQueue": {"MonthlyBillingFunction"},
        "DunningDeadLetterQueue": {"DunningFunction"},
    }


# --- schedules ------------------------------------------------------------------------------

SCHEDULED = {
    "MonthlyBillingSchedule": ("MonthlyBillingFunction", "cron(0 6 1 * ? *)"),
    "DunningSchedule": ("DunningFunction", "cron(0 7 * * ? *)"),
}


def test_the_schedules() -> None:
    assert set(SCHEDULES) == set(SCHEDULED)


@pytest.mark.parametrize("schedule_id", sorted(SCHEDULED))
def test_schedule_runs_in_german_time_and_dead_letters(schedule_id: str) -> None:
    function_id, expression = SCHEDULED[schedule_id]
    schedule = SCHEDULES[schedule_id]
    target = schedule["Target"]
    dead_letters = target["DeadLetterConfig"]["Arn"]

    assert schedule["ScheduleExpression"] == expression
    assert schedule["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert schedule["State"] == "ENABLED"
    assert target["Arn"] == get_att(function_id)
    assert json.loads(target["Input"]) == {}
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert QUEUES[dead_letters.args[0]]["QueueName"].endswith("-dlq")
    # What fails inside the (asynchronously invoked) function lands there too.
    on_failure = FUNCTIONS[function_id]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": dead_letters}


@pytest.mark.parametrize("schedule_id", sorted(SCHEDULED))
def test_schedule_role_invokes_exactly_its_function(schedule_id: str) -> None:
    function_id, _ = SCHEDULED[schedule_id]
    target = SCHEDULES[schedule_id]["Target"]
    role_id = target["RoleArn"].args[0]
    (trust,) = ROLES[role_id]["AssumeRolePolicyDocument"]["Statement"]

    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    assert allowed(role_id, "lambda") == [({"lambda:InvokeFunction"}, [get_att(function_id)])]
    assert allowed(role_id, "sqs") == [({"sqs:SendMessage"}, [target["DeadLetterConfig"]["Arn"]])]


# --- the API and CloudFront -----------------------------------------------------------------


def test_the_api_function_runs_with_the_stacks_role() -> None:
    api = FUNCTIONS["APIHandler"]

    assert api["Role"] == get_att("ApiRole")
    assert api["Handler"] == "app.app"
    assert api["CodeUri"] == "api/deployment.zip"


def test_chalice_stages_leave_iam_to_the_template() -> None:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())

    for stage in ("dev", "prod"):
        settings = config["stages"][stage]
        assert settings["manage_iam_role"] is False
        assert settings["lambda_architecture"] == "arm64"
        assert settings["api_gateway_stage"] == REST_API["StageName"]
        assert settings["api_gateway_endpoint_type"] == REST_API["EndpointConfiguration"]["Type"]


def _error(template: str) -> dict[str, Any]:
    body = json.loads(template)
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert re.fullmatch(r"[a-z_]+", body["error"]["code"])
    return dict(body["error"])


def test_gateway_responses_have_the_contracts_error_shape() -> None:
    responses = REST_API["DefinitionBody"]["x-amazon-apigateway-gateway-responses"]
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]

    assert missing["statusCode"] == "404"
    # The local front server answers unknown API routes the same way.
    assert json.loads(missing["responseTemplates"]["application/json"]) == json.loads(NOT_FOUND)
    assert {"DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    codes = {
        kind: _error(response["responseTemplates"]["application/json"])["code"]
        for kind, response in responses.items()
    }
    assert codes["DEFAULT_5XX"] == "internal_error"
    assert codes["DEFAULT_4XX"] == "invalid_request"


def test_cloudfront_speaks_https_only() -> None:
    behaviours = [DISTRIBUTION["DefaultCacheBehavior"], *DISTRIBUTION["CacheBehaviors"]]

    for behaviour in behaviours:
        assert behaviour["ViewerProtocolPolicy"] in ("redirect-to-https", "https-only")
        assert behaviour["ResponseHeadersPolicyId"] == ref("SecurityHeadersPolicy")
    for origin in DISTRIBUTION["Origins"]:
        if "CustomOriginConfig" in origin:
            assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
            assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


def test_api_paths_go_uncached_to_api_gateway() -> None:
    (api,) = [b for b in DISTRIBUTION["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
    origins = {origin["Id"]: origin for origin in DISTRIBUTION["Origins"]}
    origin = origins[api["TargetOriginId"]]

    assert "${RestAPI}.execute-api." in origin["DomainName"].args
    assert origin["OriginPath"] == "/" + REST_API["StageName"]
    assert api["ViewerProtocolPolicy"] == "https-only"
    assert api["CachePolicyId"] == MANAGED_CACHING_DISABLED
    assert api["OriginRequestPolicyId"] == MANAGED_ALL_VIEWER_EXCEPT_HOST
    assert set(api["AllowedMethods"]) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "PATCH",
        "POST",
        "DELETE",
    }


def test_the_page_comes_from_the_private_bucket() -> None:
    default = DISTRIBUTION["DefaultCacheBehavior"]
    origins = {origin["Id"]: origin for origin in DISTRIBUTION["Origins"]}
    web = origins[default["TargetOriginId"]]
    policy = props_of("AWS::S3::BucketPolicy")["WebBucketPolicy"]
    (allow,) = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]

    assert web["DomainName"] == get_att("WebBucket", "RegionalDomainName")
    assert web["OriginAccessControlId"] == get_att("WebOriginAccessControl", "Id")
    assert web["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow["Action"] == "s3:GetObject"
    assert "${WebDistribution}" in allow["Condition"]["StringEquals"]["AWS:SourceArn"].args


def test_caching_long_for_files_never_for_index_html() -> None:
    from infra.deploy import CACHE_CONTROL

    (policy,) = props_of("AWS::CloudFront::CachePolicy").values()
    (index,) = [b for b in DISTRIBUTION["CacheBehaviors"] if b["PathPattern"] == "/index.html"]

    assert DISTRIBUTION["DefaultCacheBehavior"]["CachePolicyId"] == ref("WebCachePolicy")
    assert policy["CachePolicyConfig"]["MaxTTL"] >= 365 * 24 * 3600
    assert index["CachePolicyId"] == MANAGED_CACHING_DISABLED
    assert CACHE_CONTROL["index.html"] == "no-cache"


def test_security_headers() -> None:
    (policy,) = props_of("AWS::CloudFront::ResponseHeadersPolicy").values()
    headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = {
        directive.split()[0]: directive.split()[1:]
        for directive in headers["ContentSecurityPolicy"]["ContentSecurityPolicy"].split(";")
    }

    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 365 * 24 * 3600
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "no-referrer"
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'", "https://js.stripe.com"]
    assert csp["frame-src"] == ["https://js.stripe.com", "https://hooks.stripe.com"]
    assert csp["connect-src"] == ["'self'", "https://api.stripe.com"]
    assert csp["frame-ancestors"] == ["'none'"]
    # PayPal is a full-page redirect: nothing of it runs on our page.
    assert "paypal" not in headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]


# --- alarms ---------------------------------------------------------------------------------


def _alarms_on(namespace: str, metric: str) -> list[tuple[Any, dict[str, Any]]]:
    """(value of the first dimension, alarm) of the alarms on that metric."""
    return [
        (alarm["Dimensions"][0]["Value"], alarm)
        for alarm in ALARMS.values()
        if (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
    ]


def test_every_dead_letter_queue_has_an_alarm() -> None:
    alarms = _alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    dead_letter_queues = [q for q, props in QUEUES.items() if props["QueueName"].endswith("-dlq")]

    assert len(dead_letter_queues) == 6
    for queue in dead_letter_queues:
        matching = [a for v, a in alarms if v == get_att(queue, "QueueName")]
        assert len(matching) == 1, queue
        (alarm,) = matching
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_every_function_has_an_errors_alarm() -> None:
    alarms = _alarms_on("AWS/Lambda", "Errors")

    for function_id in FUNCTIONS:
        matching = [a for v, a in alarms if v == ref(function_id)]
        assert len(matching) == 1, function_id
        assert (matching[0]["Statistic"], matching[0]["Threshold"]) == ("Sum", 0)


def test_rejected_webhooks_alarm() -> None:
    ((_, alarm),) = _alarms_on("SidesPortal", "WebhooksRejected")

    # Powertools Metrics adds the service as a dimension; the webhooks are the API's.
    assert alarm["Dimensions"] == [
        {"Name": "service", "Value": environment("APIHandler")["POWERTOOLS_SERVICE_NAME"]}
    ]
    assert (alarm["Statistic"], alarm["Period"], alarm["Threshold"]) == ("Sum", 300, 10)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_alarms_notify_the_alarm_topic() -> None:
    (subscription,) = definitions.resources_of_type(TEMPLATE, "AWS::SNS::Subscription").values()

    for alarm in ALARMS.values():
        assert alarm["AlarmActions"] == [ref("AlarmTopic")]
        assert alarm["TreatMissingData"] == "notBreaching"
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Protocol"] == "email"
