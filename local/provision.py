"""Creates the resources of infra/template.yaml on a moto server, through the SDK.

moto's CloudFormation skips Cognito (and an output that refers to a skipped resource crashes
it), so the local stack does not deploy the template: it reads every resource from it and
makes the matching SDK calls. Properties this module does not know how to apply raise
`ProvisioningError` instead of being dropped, so the template and the local stack cannot
drift apart silently.

Provisioning expects a fresh moto server: on one that already has the stack it raises
`ProvisioningError` before creating anything (start a new server instead of re-running).
"""

from __future__ import annotations

import argparse
import dataclasses
import graphlib
import json
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, cast

import boto3
from botocore.config import Config

from infra import definitions

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ServerSideEncryptionConfigurationTypeDef
    from mypy_boto3_ses import SESClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.literals import QueueAttributeNameType

FAKE_CREDENTIAL = "testing"

# Locally, Lambda handlers run in-process (the queue pump calls them), schedules are
# operator commands, Chalice's local server stands in for API Gateway and the front server for
# CloudFront (design, section 3); nothing enforces IAM and nobody watches alarms. These
# resources have no moto counterpart to create, and neither has a resource that refers to one
# of them (the web bucket's policy names the CloudFront distribution).
NOT_PROVISIONED_LOCALLY = frozenset(
    {
        "AWS::Serverless::Function",
        "AWS::Serverless::Api",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Scheduler::Schedule",
        "AWS::Scheduler::ScheduleGroup",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::Logs::LogGroup",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::CachePolicy",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::CloudWatch::Alarm",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
    }
)


class ProvisioningError(RuntimeError):
    """The template asks for something local provisioning cannot (or will not) do."""


class StackOutputs(TypedDict):
    prefix: str
    region: str
    invoice_bucket: str
    user_pool_id: str
    user_pool_client_id: str
    event_bus_name: str
    mail_from: str
    queues: dict[str, str]


class _Clients:
    """One client per service, all pointed at the moto server."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        session = boto3.session.Session(
            aws_access_key_id=FAKE_CREDENTIAL,
            aws_secret_access_key=FAKE_CREDENTIAL,
            region_name=region,
        )
        self.region = region
        self.dynamodb: DynamoDBClient = session.client("dynamodb", endpoint_url=endpoint_url)
        # Virtual-host addressing would put the bucket name in front of 127.0.0.1.
        self.s3: S3Client = session.client(
            "s3", endpoint_url=endpoint_url, config=Config(s3={"addressing_style": "path"})
        )
        self.cognito: CognitoIdentityProviderClient = session.client(
            "cognito-idp", endpoint_url=endpoint_url
        )
        self.events: EventBridgeClient = session.client("events", endpoint_url=endpoint_url)
        self.sqs: SQSClient = session.client("sqs", endpoint_url=endpoint_url)
        self.ses: SESClient = session.client("ses", endpoint_url=endpoint_url)
        self.secrets: Any = session.client("secretsmanager", endpoint_url=endpoint_url)


Properties = dict[str, Any]
Names = dict[str, Any]
_Handler = Callable[[_Clients, str, Properties, Names], None]


# --- DynamoDB -------------------------------------------------------------------------------

_TABLE_CREATE = (
    "TableName",
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "StreamSpecification",
    "DeletionProtectionEnabled",
    "Tags",
)
_TABLE_AFTER = ("SSESpecification", "PointInTimeRecoverySpecification", "TimeToLiveSpecification")


def _table(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    create = {key: props[key] for key in _TABLE_CREATE if key in props}
    if "SSESpecification" in props:
        # CloudFormation says SSEEnabled where the API says Enabled.
        sse = dict(props["SSESpecification"])
        create["SSESpecification"] = {"Enabled": sse.pop("SSEEnabled"), **sse}
    table = clients.dynamodb.create_table(**create)["TableDescription"]
    name = props["TableName"]
    if "PointInTimeRecoverySpecification" in props:
        clients.dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification=props["PointInTimeRecoverySpecification"],
        )
    if "TimeToLiveSpecification" in props:
        clients.dynamodb.update_time_to_live(
            TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"]
        )
    names[logical_id] = name
    names[f"{logical_id}.Arn"] = table["TableArn"]


# --- S3 -------------------------------------------------------------------------------------

_BUCKET = (
    "BucketName",
    "ObjectLockEnabled",
    "ObjectLockConfiguration",
    "VersioningConfiguration",
    "LifecycleConfiguration",
    "BucketEncryption",
    "PublicAccessBlockConfiguration",
    "OwnershipControls",
)


def _lifecycle(config: Mapping[str, Any]) -> Any:
    """CloudFormation's lifecycle rules in the API's shape (the keys this template uses)."""
    rules = []
    for rule in config["Rules"]:
        api: dict[str, Any] = {"ID": rule["Id"], "Status": rule["Status"]}
        api["Filter"] = {"Prefix": rule.get("Prefix", "")}
        if "ExpirationInDays" in rule:
            api["Expiration"] = {"Days": rule["ExpirationInDays"]}
        if "NoncurrentVersionExpiration" in rule:
            api["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": rule["NoncurrentVersionExpiration"]["NoncurrentDays"]
            }
        rules.append(api)
    return {"Rules": rules}


def _bucket(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    s3, name = clients.s3, props["BucketName"]
    create: dict[str, Any] = {
        "Bucket": name,
        "ObjectLockEnabledForBucket": bool(props.get("ObjectLockEnabled", False)),
    }
    if clients.region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": clients.region}
    s3.create_bucket(**create)
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration=props["VersioningConfiguration"]
        )
    if "ObjectLockConfiguration" in props:
        s3.put_object_lock_configuration(
            Bucket=name, ObjectLockConfiguration=props["ObjectLockConfiguration"]
        )
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(
            Bucket=name, LifecycleConfiguration=_lifecycle(props["LifecycleConfiguration"])
        )
    if "BucketEncryption" in props:
        s3.put_bucket_encryption(
            Bucket=name, ServerSideEncryptionConfiguration=_encryption(props["BucketEncryption"])
        )
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    names[logical_id] = name
    names[f"{logical_id}.Arn"] = f"arn:aws:s3:::{name}"
    names[f"{logical_id}.DomainName"] = f"{name}.s3.amazonaws.com"


def _encryption(bucket_encryption: Mapping[str, Any]) -> ServerSideEncryptionConfigurationTypeDef:
    # CloudFormation says ServerSideEncryptionByDefault where the API says Apply...ByDefault.
    rules = [
        {
            (
                "ApplyServerSideEncryptionByDefault"
                if key == "ServerSideEncryptionByDefault"
                else key
            ): value
            for key, value in rule.items()
        }
        for rule in bucket_encryption["ServerSideEncryptionConfiguration"]
    ]
    return cast("ServerSideEncryptionConfigurationTypeDef", {"Rules": rules})


def _requires_tls(statement: Mapping[str, Any]) -> bool:
    condition = statement.get("Condition", {})
    return "aws:SecureTransport" in json.dumps(condition)


def _bucket_policy(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    # The local stack speaks plain HTTP on loopback and moto enforces bucket policies, so the
    # TLS-only statements are left out here; everything else of the policy applies as written.
    document = dict(props["PolicyDocument"])
    document["Statement"] = [s for s in document["Statement"] if not _requires_tls(s)]
    if document["Statement"]:
        clients.s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(document))
    names[logical_id] = props["Bucket"]


# --- Cognito --------------------------------------------------------------------------------

# CloudFormation and CreateUserPool use the same names, except for the pool's own name.
_USER_POOL = (
    "UserPoolName",
    "Policies",
    "DeletionProtection",
    "LambdaConfig",
    "AutoVerifiedAttributes",
    "AliasAttributes",
    "UsernameAttributes",
    "UsernameConfiguration",
    "VerificationMessageTemplate",
    "EmailConfiguration",
    "SmsConfiguration",
    "MfaConfiguration",
    "EnabledMfas",
    "DeviceConfiguration",
    "UserAttributeUpdateSettings",
    "AdminCreateUserConfig",
    "Schema",
    "UserPoolAddOns",
    "AccountRecoverySetting",
    "UserPoolTier",
    "UserPoolTags",
)
_USER_POOL_CLIENT = (
    "UserPoolId",
    "ClientName",
    "GenerateSecret",
    "RefreshTokenValidity",
    "AccessTokenValidity",
    "IdTokenValidity",
    "TokenValidityUnits",
    "ReadAttributes",
    "WriteAttributes",
    "ExplicitAuthFlows",
    "SupportedIdentityProviders",
    "CallbackURLs",
    "LogoutURLs",
    "DefaultRedirectURI",
    "AllowedOAuthFlows",
    "AllowedOAuthScopes",
    "AllowedOAuthFlowsUserPoolClient",
    "PreventUserExistenceErrors",
    "EnableTokenRevocation",
    "EnablePropagateAdditionalUserContextData",
    "AuthSessionValidity",
)


def _user_pool(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    create = dict(props)
    create["PoolName"] = create.pop("UserPoolName")
    # CloudFormation's EnabledMfas is SetUserPoolMfaConfig in the API.
    enabled_mfas = create.pop("EnabledMfas", [])
    pool = clients.cognito.create_user_pool(**create)["UserPool"]
    if "SOFTWARE_TOKEN_MFA" in enabled_mfas:
        clients.cognito.set_user_pool_mfa_config(
            UserPoolId=pool["Id"],
            SoftwareTokenMfaConfiguration={"Enabled": True},
            MfaConfiguration=create.get("MfaConfiguration", "OPTIONAL"),
        )
    names[logical_id] = pool["Id"]
    names[f"{logical_id}.Arn"] = pool["Arn"]
    names[f"{logical_id}.ProviderName"] = f"cognito-idp.{clients.region}.amazonaws.com/{pool['Id']}"
    names[f"{logical_id}.ProviderURL"] = f"https://{names[f'{logical_id}.ProviderName']}"


def _user_pool_client(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    client = clients.cognito.create_user_pool_client(**props)["UserPoolClient"]
    names[logical_id] = client["ClientId"]
    names[f"{logical_id}.ClientId"] = client["ClientId"]
    names[f"{logical_id}.Name"] = client["ClientName"]


# --- SES ------------------------------------------------------------------------------------


def _email_identity(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    identity = props["EmailIdentity"]
    if "@" in identity:
        clients.ses.verify_email_identity(EmailAddress=identity)
    else:
        clients.ses.verify_domain_identity(Domain=identity)
    names[logical_id] = identity


# --- Secrets Manager --------------------------------------------------------------------------


def _secret(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    # Generated secrets get a fresh random value, as CloudFormation would; provider keys start
    # empty and are filled in by whoever runs the stack (locally: local/stack.py).
    generate = props.get("GenerateSecretString")
    value = secrets.token_hex(int(generate.get("PasswordLength", 32)) // 2) if generate else "{}"
    if generate and generate.get("GenerateStringKey"):
        # a JSON template with the generated value under its key, as CloudFormation does
        document = json.loads(generate.get("SecretStringTemplate") or "{}")
        document[generate["GenerateStringKey"]] = value
        value = json.dumps(document)
    created = clients.secrets.create_secret(
        Name=props["Name"], Description=props.get("Description", ""), SecretString=value
    )
    names[logical_id] = created["ARN"]


# --- EventBridge and SQS --------------------------------------------------------------------


def _event_bus(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    name = props["Name"]
    arn = clients.events.create_event_bus(Name=name)["EventBusArn"]
    names[logical_id] = name
    names[f"{logical_id}.Name"] = name
    names[f"{logical_id}.Arn"] = arn


_QUEUE_JSON_ATTRIBUTES = ("RedrivePolicy", "RedriveAllowPolicy")
# Every Queue property but QueueName is a queue attribute of the same name.
_QUEUE = (
    "QueueName",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
    *_QUEUE_JSON_ATTRIBUTES,
)


def queue_attribute(name: str, value: Any) -> str:
    """A Queue property as the string SQS stores for the attribute of the same name."""
    if name in _QUEUE_JSON_ATTRIBUTES:
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _queue(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    name = props["QueueName"]
    attributes = cast(
        "dict[QueueAttributeNameType, str]",
        {key: queue_attribute(key, value) for key, value in props.items() if key != "QueueName"},
    )
    url = clients.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    names[logical_id] = url
    names[f"{logical_id}.Arn"] = arn
    names[f"{logical_id}.QueueName"] = name
    names[f"{logical_id}.QueueUrl"] = url


def _queue_policy(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    policy = json.dumps(props["PolicyDocument"])
    for url in props["Queues"]:
        clients.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    names[logical_id] = logical_id


_RULE = ("Name", "Description", "EventBusName", "EventPattern", "State", "Targets")


def _rule(clients: _Clients, logical_id: str, props: Properties, names: Names) -> None:
    rule = {key: value for key, value in props.items() if key != "Targets"}
    rule["EventPattern"] = json.dumps(props["EventPattern"])
    arn = clients.events.put_rule(**rule)["RuleArn"]
    targets = props.get("Targets", [])
    if targets:
        failed = clients.events.put_targets(
            Rule=props["Name"], EventBusName=props["EventBusName"], Targets=targets
        )
        if failed["FailedEntryCount"]:
            raise ProvisioningError(f"{logical_id}: targets refused: {failed['FailedEntries']}")
    names[logical_id] = f"{props['EventBusName']}|{props['Name']}"
    names[f"{logical_id}.Arn"] = arn


@dataclasses.dataclass(frozen=True)
class _Kind:
    create: _Handler
    properties: tuple[str, ...]


_KINDS: dict[str, _Kind] = {
    "AWS::DynamoDB::Table": _Kind(_table, _TABLE_CREATE + _TABLE_AFTER),
    "AWS::S3::Bucket": _Kind(_bucket, _BUCKET),
    "AWS::S3::BucketPolicy": _Kind(_bucket_policy, ("Bucket", "PolicyDocument")),
    "AWS::Cognito::UserPool": _Kind(_user_pool, _USER_POOL),
    "AWS::Cognito::UserPoolClient": _Kind(_user_pool_client, _USER_POOL_CLIENT),
    "AWS::SES::EmailIdentity": _Kind(_email_identity, ("EmailIdentity",)),
    "AWS::Events::EventBus": _Kind(_event_bus, ("Name",)),
    "AWS::SQS::Queue": _Kind(_queue, _QUEUE),
    "AWS::SQS::QueuePolicy": _Kind(_queue_policy, ("Queues", "PolicyDocument")),
    "AWS::Events::Rule": _Kind(_rule, _RULE),
    "AWS::SecretsManager::Secret": _Kind(_secret, ("Name", "Description", "GenerateSecretString")),
}


# --- the stack ------------------------------------------------------------------------------


def _creation_order(resources: Mapping[str, Mapping[str, Any]]) -> list[str]:
    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        explicit = {depends_on} if isinstance(depends_on, str) else set(depends_on)
        graph[logical_id] = (definitions.references(resource) | explicit) & resources.keys()
    return list(graphlib.TopologicalSorter(graph).static_order())


def _refuse_provisioned(clients: _Clients, template: definitions.Template, names: Names) -> None:
    tables = definitions.resources_of_type(template, "AWS::DynamoDB::Table")
    wanted = {definitions.resolve(t["Properties"]["TableName"], names) for t in tables.values()}
    existing = wanted & set(clients.dynamodb.list_tables()["TableNames"])
    if existing:
        raise ProvisioningError(
            f"already provisioned ({sorted(existing)[0]} exists); "
            "local provisioning expects a fresh moto server"
        )


def _to_create(
    template: definitions.Template, conditions: Mapping[str, bool]
) -> list[tuple[str, dict[str, Any], _Kind]]:
    """The resources to create, in dependency order, checked before anything is created."""
    resources = template["Resources"]
    planned = []
    aws_only: set[str] = set()
    for logical_id in _creation_order(resources):
        resource = resources[logical_id]
        if "Condition" in resource and not conditions[resource["Condition"]]:
            continue
        if resource["Type"] in NOT_PROVISIONED_LOCALLY:
            aws_only.add(logical_id)
            continue
        kind = _KINDS.get(resource["Type"])
        if kind is None:
            raise ProvisioningError(f"{logical_id}: no local provisioning for {resource['Type']}")
        if definitions.references(resource) & aws_only:
            aws_only.add(logical_id)
            continue
        unknown = sorted(set(resource.get("Properties", {})) - set(kind.properties))
        if unknown:
            raise ProvisioningError(f"{logical_id}: local provisioning does not apply {unknown}")
        planned.append((logical_id, resource, kind))
    return planned


def planned_resources(template: definitions.Template, conditions: Mapping[str, bool]) -> list[str]:
    """The logical ids local provisioning creates, in the order it creates them."""
    return [logical_id for logical_id, _, _ in _to_create(template, conditions)]


def provision(
    stage: str = "local",
    *,
    endpoint_url: str,
    region: str = "eu-central-1",
    account_id: str = "123456789012",
    template: definitions.Template | None = None,
) -> StackOutputs:
    """Create every resource of infra/template.yaml (or `template`) on the moto server.

    `account_id` only fills `${AWS::AccountId}` (the bucket name); the ARNs are moto's own,
    whose default account is 123456789012.
    """
    template = template if template is not None else definitions.load_template()
    names: Names = definitions.parameter_values(
        template, stage=stage, account_id=account_id, region=region
    )
    conditions = definitions.evaluate_conditions(template, names)
    planned = _to_create(template, conditions)
    clients = _Clients(endpoint_url, region)
    _refuse_provisioned(clients, template, names)
    for logical_id, resource, kind in planned:
        properties = definitions.resolve(resource.get("Properties", {}), names, conditions)
        if not definitions.is_resolved(properties):
            raise ProvisioningError(f"{logical_id}: unresolved properties {properties}")
        kind.create(clients, logical_id, properties, names)
    return _outputs(template, names, conditions, region)


def _outputs(
    template: definitions.Template, names: Names, conditions: dict[str, bool], region: str
) -> StackOutputs:
    values = {
        key: definitions.resolve(output["Value"], names, conditions)
        for key, output in template["Outputs"].items()
    }
    prefix = str(values["PortalPrefix"])
    queues = {
        str(names[f"{logical_id}.QueueName"]).removeprefix(f"{prefix}-"): str(names[logical_id])
        for logical_id in definitions.resources_of_type(template, "AWS::SQS::Queue")
    }
    return StackOutputs(
        prefix=prefix,
        region=region,
        invoice_bucket=str(values["InvoiceBucketName"]),
        user_pool_id=str(values["UserPoolId"]),
        user_pool_client_id=str(values["UserPoolClientId"]),
        event_bus_name=str(values["EventBusName"]),
        mail_from=str(values["MailFrom"]),
        queues=queues,
    )


def settings_env(outputs: StackOutputs, endpoint_url: str) -> dict[str, str]:
    """The environment chalicelib.config reads, pointing the app at the local stack."""
    return {
        "PORTAL_PREFIX": outputs["prefix"],
        "AWS_DEFAULT_REGION": outputs["region"],
        "AWS_REGION": outputs["region"],
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": FAKE_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIAL,
        "INVOICE_BUCKET": outputs["invoice_bucket"],
        "USER_POOL_ID": outputs["user_pool_id"],
        "USER_POOL_CLIENT_ID": outputs["user_pool_client_id"],
        "EVENT_BUS_NAME": outputs["event_bus_name"],
        "MAIL_FROM": outputs["mail_from"],
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Provision the portal on a moto server.")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--stage", default="local")
    parser.add_argument("--region", default="eu-central-1")
    args = parser.parse_args(argv)
    outputs = provision(args.stage, endpoint_url=args.endpoint_url, region=args.region)
    json.dump(
        {"outputs": outputs, "env": settings_env(outputs, args.endpoint_url)},
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
