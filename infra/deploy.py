"""Deploys a stage that infra/package.py built, with the caller's AWS credentials.

    python -m infra.deploy --stage prod [--artifact-bucket NAME] [--parameter Key=Value ...]
    python -m infra.deploy --stage prod --destroy [--yes]

Deploying uploads the packages and the template to an artifact bucket (what `aws
cloudformation package` does), creates or updates the stack `sides-portal-<stage>`, fills in
the portal's address once CloudFront has given it one, copies web/ into the web bucket and
invalidates the distribution. Parameters not given keep their previous value.

Destroying empties the web bucket and deletes the stack. The data stays: the tables, the
invoice bucket (object lock keeps every PDF for 8 years anyway), the user pool, the secrets and
the queues are retained (DeletionPolicy Retain), and so is the artifact bucket; the command
lists them at the end. See docs/deploy.md.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import mimetypes
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError, WaiterError

log = logging.getLogger("infra.deploy")
ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
WAIT = {"Delay": 15, "MaxAttempts": 240}  # CloudFront alone can take a quarter of an hour
# The page's file names carry no content hash: browsers check index.html on every load and
# keep the rest a few minutes; CloudFront keeps them until the next deployment invalidates it.
CACHE_CONTROL = {"index.html": "no-cache"}
CACHE_CONTROL_DEFAULT = "public, max-age=300, s-maxage=31536000"


class DeployError(RuntimeError):
    """Deploying cannot go on; the message says what to do."""


def stack_name(stage: str) -> str:
    return f"sides-portal-{stage}"


# --- artifacts --------------------------------------------------------------------------


def zip_directory(directory: Path) -> bytes:
    """A zip of the directory that depends on the contents only (sorted, fixed times)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            raise DeployError(f"artifact bucket {bucket}: {exc}") from exc
    log.info("creating artifact bucket %s", bucket)
    create: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**create)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )


def upload(s3: Any, bucket: str, key: str, body: bytes) -> None:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError:
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def upload_code(s3: Any, bucket: str, stage: str, out: Path, template: dict[str, Any]) -> None:
    """Replace every function's local CodeUri with the S3 object holding its zip."""
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        local = out / resource["Properties"]["CodeUri"]
        body = zip_directory(local) if local.is_dir() else local.read_bytes()
        key = f"{stage}/code/{hashlib.sha256(body).hexdigest()}.zip"
        upload(s3, bucket, key, body)
        resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
        log.info("  %s: s3://%s/%s (%.1f MB)", logical_id, bucket, key, len(body) / 1e6)


def upload_template(s3: Any, bucket: str, stage: str, region: str, template: Any) -> str:
    # The merged template is larger than the 51,200 bytes CloudFormation takes inline.
    body = yaml.safe_dump(template, sort_keys=False, allow_unicode=True).encode()
    key = f"{stage}/template-{hashlib.sha256(body).hexdigest()}.yaml"
    upload(s3, bucket, key, body)
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


# --- the stack --------------------------------------------------------------------------


def describe(cloudformation: Any, stack: str) -> dict[str, Any] | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    described: dict[str, Any] = stacks[0]
    return described


def outputs_of(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def stack_parameters(
    template: dict[str, Any],
    existing: dict[str, Any] | None,
    overrides: dict[str, str],
) -> list[dict[str, Any]]:
    """Given values win; otherwise the stack's previous value, else the template's default."""
    previous = {p["ParameterKey"] for p in (existing or {}).get("Parameters", [])}
    unknown = sorted(set(overrides) - set(template["Parameters"]))
    if unknown:
        raise DeployError(f"the template has no parameter {', '.join(unknown)}")
    parameters: list[dict[str, Any]] = []
    for key in template["Parameters"]:
        if key in overrides:
            parameters.append({"ParameterKey": key, "ParameterValue": overrides[key]})
        elif key in previous:
            parameters.append({"ParameterKey": key, "UsePreviousValue": True})
    return parameters


def print_failures(cloudformation: Any, stack: str, since: float) -> None:
    events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
    for event in reversed(events):
        failed = event["ResourceStatus"].endswith("FAILED")
        if failed and event["Timestamp"].timestamp() >= since and "ResourceStatusReason" in event:
            log.error("  %s: %s", event["LogicalResourceId"], event["ResourceStatusReason"])


def apply_stack(
    cloudformation: Any,
    stack: str,
    existing: dict[str, Any] | None,
    parameters: list[dict[str, Any]],
    template_url: str | None,
) -> None:
    """Create or update the stack and wait; `template_url` None keeps the deployed one."""
    source = {"TemplateURL": template_url} if template_url else {"UsePreviousTemplate": True}
    request = {"StackName": stack, "Parameters": parameters, "Capabilities": CAPABILITIES}
    started = time.time()
    if existing is None:
        log.info("creating stack %s (CloudFront takes a while) …", stack)
        cloudformation.create_stack(**request, **source, Tags=[{"Key": "app", "Value": stack}])
        waiter = cloudformation.get_waiter("stack_create_complete")
    else:
        status = existing["StackStatus"]
        if status == "ROLLBACK_COMPLETE":
            raise DeployError(f"{stack} failed to create before: run --destroy, then deploy")
        if status.endswith("_IN_PROGRESS"):
            raise DeployError(f"{stack} is busy ({status}); try again when it is done")
        log.info("updating stack %s …", stack)
        try:
            cloudformation.update_stack(**request, **source)
        except ClientError as exc:
            if "No updates are to be performed" in str(exc):
                log.info("  no changes")
                return
            raise
        waiter = cloudformation.get_waiter("stack_update_complete")
    try:
        waiter.wait(StackName=stack, WaiterConfig=WAIT)
    except WaiterError as exc:
        print_failures(cloudformation, stack, started)
        raise DeployError(f"{stack} did not deploy: {exc}") from exc


# --- the web page -----------------------------------------------------------------------


def web_files() -> Iterator[tuple[str, Path]]:
    for path in sorted(WEB.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            yield path.relative_to(WEB).as_posix(), path


def content_type(name: str) -> str:
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind.endswith(("javascript", "json", "svg+xml")):
        kind += "; charset=utf-8"
    return kind


def sync_web(s3: Any, bucket: str) -> None:
    wanted = dict(web_files())
    for key, path in wanted.items():
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=path.read_bytes(),
            ContentType=content_type(key),
            CacheControl=CACHE_CONTROL.get(key, CACHE_CONTROL_DEFAULT),
        )
    stale = [
        {"Key": item["Key"]}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
        if item["Key"] not in wanted
    ]
    for start in range(0, len(stale), 1000):
        s3.delete_objects(Bucket=bucket, Delete={"Objects": stale[start : start + 1000]})
    log.info("web/: %d files to s3://%s, %d removed", len(wanted), bucket, len(stale))


def invalidate(cloudfront: Any, distribution_id: str) -> None:
    cloudfront.create_invalidation(
        DistributionId=distribution_id,
        InvalidationBatch={
            "Paths": {"Quantity": 1, "Items": ["/*"]},
            "CallerReference": f"deploy-{time.time_ns()}",
        },
    )
    log.info("invalidated CloudFront distribution %s", distribution_id)


# --- commands ---------------------------------------------------------------------------


def load_build(out: Path) -> dict[str, Any]:
    manifest_path = out / "manifest.json"
    if not manifest_path.exists():
        raise DeployError(f"nothing built in {out}: run `make package STAGE={out.name}`")
    manifest = json.loads(manifest_path.read_text())
    if not manifest["deployable"]:
        raise DeployError("the build is not deployable: " + "; ".join(manifest["problems"]))
    template: dict[str, Any] = yaml.safe_load((out / "template.yaml").read_text())
    return template


def deploy(
    session: Any,
    stage: str,
    bucket: str | None,
    overrides: dict[str, str],
    out: Path | None = None,
) -> None:
    """Deploy build/<stage> (or `out`) as the stack sides-portal-<stage>."""
    region = session.region_name
    out = out or ROOT / "build" / stage
    template = load_build(out)
    account = session.client("sts").get_caller_identity()["Account"]
    s3, cloudformation = session.client("s3"), session.client("cloudformation")
    bucket = bucket or f"sides-portal-{stage}-artifacts-{account}"
    log.info("account %s, region %s, stage %s", account, region, stage)
    ensure_bucket(s3, bucket, region)
    upload_code(s3, bucket, stage, out, template)
    template_url = upload_template(s3, bucket, stage, region, template)

    stack = stack_name(stage)
    existing = describe(cloudformation, stack)
    parameters = stack_parameters(template, existing, {**overrides, "Stage": stage})
    apply_stack(cloudformation, stack, existing, parameters, template_url)

    described = describe(cloudformation, stack)
    assert described is not None
    outputs = outputs_of(described)
    given = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described["Parameters"]}
    if not given.get("PortalUrl"):
        # The API cannot refer to the distribution in the same stack (a cycle); now it exists.
        log.info("setting PortalUrl to %s", outputs["PortalUrl"])
        keep = stack_parameters(template, described, {"PortalUrl": outputs["PortalUrl"]})
        apply_stack(cloudformation, stack, described, keep, None)

    sync_web(s3, outputs["WebBucketName"])
    invalidate(session.client("cloudfront"), outputs["DistributionId"])
    url = outputs["PortalUrl"]
    log.info("\nportal:          %s", url)
    log.info("Stripe webhook:  %s/api/webhooks/stripe", url)
    log.info("PayPal webhook:  %s/api/webhooks/paypal", url)
    log.info("next: fill in the secrets and register the webhooks (docs/deploy.md)")


def retained_resources(cloudformation: Any, stack: str) -> list[str]:
    processed = cloudformation.get_template(StackName=stack, TemplateStage="Processed")
    body = processed["TemplateBody"]
    resources = (body if isinstance(body, dict) else yaml.safe_load(body))["Resources"]
    keep = {
        k
        for k, r in resources.items()
        if r.get("DeletionPolicy") in ("Retain", "RetainExceptOnCreate")
    }
    pages = cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
    return [
        f"{summary['ResourceType']:<30} {summary.get('PhysicalResourceId', '')}"
        for page in pages
        for summary in page["StackResourceSummaries"]
        if summary["LogicalResourceId"] in keep
    ]


def empty_bucket(s3: Any, bucket: str) -> None:
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            objects = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if objects:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchBucket":
            raise


def destroy(session: Any, stage: str, *, yes: bool) -> None:
    stack = stack_name(stage)
    cloudformation = session.client("cloudformation")
    described = describe(cloudformation, stack)
    if described is None:
        log.info("no stack %s", stack)
        return
    if not yes and input(f"Delete {stack}? Type the stage name to confirm: ").strip() != stage:
        raise DeployError("not confirmed; nothing deleted")
    retained = retained_resources(cloudformation, stack)
    web_bucket = outputs_of(described).get("WebBucketName")
    if web_bucket:
        empty_bucket(session.client("s3"), web_bucket)
    log.info("deleting stack %s (CloudFront takes a while) …", stack)
    started = time.time()
    cloudformation.delete_stack(StackName=stack)
    try:
        cloudformation.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=WAIT)
    except WaiterError as exc:
        print_failures(cloudformation, stack, started)
        raise DeployError(f"{stack} was not deleted: {exc}") from exc
    log.info("deleted. Retained (delete or import them before deploying this stage again):")
    for line in retained:
        log.info("  %s", line)
    log.info("  and the artifact bucket of the stage, if infra/deploy.py created it")


def parse_parameters(pairs: Sequence[str]) -> dict[str, str]:
    parameters = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise DeployError(f"--parameter wants Key=Value, not {pair!r}")
        parameters[key] = value
    return parameters


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Deploy (or delete) a stage of the portal.")
    parser.add_argument("--stage", required=True)
    parser.add_argument("--destroy", action="store_true", help="delete the stack (data stays)")
    parser.add_argument("--yes", action="store_true", help="do not ask before deleting")
    parser.add_argument(
        "--artifact-bucket", help="default: sides-portal-<stage>-artifacts-<account>"
    )
    parser.add_argument(
        "--parameter", action="append", default=[], metavar="KEY=VALUE",
        help="a template parameter, e.g. AlarmEmail=ops@example.com (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    session = boto3.session.Session()
    try:
        if not session.region_name:
            raise DeployError("no AWS region: set AWS_REGION or AWS_DEFAULT_REGION")
        if args.destroy:
            destroy(session, args.stage, yes=args.yes)
        else:
            deploy(session, args.stage, args.artifact_bucket, parse_parameters(args.parameter))
    except DeployError as exc:
        log.error("error: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
