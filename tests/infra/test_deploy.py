"""infra/deploy.py against moto: artifacts, the stack's two passes, the web page, destroy.

moto's CloudFormation does not run the SAM transform, so the stack here is a stand-in with
the outputs deploy.py reads; the real template is checked by cfn-lint (test_package.py).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from infra import deploy

REGION = "eu-central-1"
STAND_IN = {
    "Parameters": {
        "Stage": {"Type": "String", "Default": "dev"},
        "PortalUrl": {"Type": "String", "Default": ""},
        "AlarmEmail": {"Type": "String", "Default": ""},
        "DistributionId": {"Type": "String"},
    },
    "Conditions": {"HasPortalUrl": {"Fn::Not": [{"Fn::Equals": [{"Ref": "PortalUrl"}, ""]}]}},
    "Resources": {
        "WebBucket": {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Delete"},
        "StoresTable": {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "Properties": {
                "TableName": "sides-portal-test-stores",
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": "store_id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "store_id", "KeyType": "HASH"}],
            },
        },
    },
    "Outputs": {
        "WebBucketName": {"Value": {"Ref": "WebBucket"}},
        "DistributionId": {"Value": {"Ref": "DistributionId"}},
        "PortalUrl": {
            "Value": {"Fn::If": ["HasPortalUrl", {"Ref": "PortalUrl"}, "https://d1.cloudfront.net"]}
        },
    },
}


def given(distribution: str, **more: str) -> dict[str, str]:
    # moto forgets parameters that took their default, so UsePreviousValue fails for them
    # there (CloudFormation keeps them); the tests give every parameter on creation.
    return {"DistributionId": distribution, "AlarmEmail": "", **more}


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def _distribution(session: Any) -> str:
    config = {
        "CallerReference": "test",
        "Comment": "",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "web",
                    "DomainName": "web.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": {"TargetOriginId": "web", "ViewerProtocolPolicy": "https-only"},
    }
    created = session.client("cloudfront").create_distribution(DistributionConfig=config)
    return str(created["Distribution"]["Id"])


def _build(tmp_path: Path, template: dict[str, Any], deployable: bool = True) -> Path:
    out = tmp_path / "test"
    out.mkdir()
    (out / "template.yaml").write_text(yaml.safe_dump(template))
    problems = [] if deployable else ["built with --skip-deps: no third-party packages"]
    (out / "manifest.json").write_text(json.dumps({"deployable": deployable, "problems": problems}))
    return out


def _stack(session: Any) -> dict[str, Any]:
    cloudformation = session.client("cloudformation")
    stack: dict[str, Any] = cloudformation.describe_stacks(StackName="sides-portal-test")["Stacks"][
        0
    ]
    return stack


def test_deploy_creates_the_stack_then_sets_the_portal_address(
    session: Any, tmp_path: Path
) -> None:
    out = _build(tmp_path, STAND_IN)
    distribution = _distribution(session)

    deploy.deploy(session, "test", None, given(distribution), out=out)

    stack = _stack(session)
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert parameters["PortalUrl"] == "https://d1.cloudfront.net"
    assert parameters["Stage"] == "test"
    s3 = session.client("s3")
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert "sides-portal-test-artifacts-123456789012" in buckets
    web = deploy.outputs_of(stack)["WebBucketName"]
    index = s3.get_object(Bucket=web, Key="index.html")
    assert index["CacheControl"] == "no-cache"
    assert index["ContentType"] == "text/html; charset=utf-8"
    invalidations = session.client("cloudfront").list_invalidations(DistributionId=distribution)
    assert invalidations["InvalidationList"]["Quantity"] == 1


def test_a_second_deploy_keeps_parameters_and_removes_stale_files(
    session: Any, tmp_path: Path
) -> None:
    out = _build(tmp_path, STAND_IN)
    distribution = _distribution(session)
    deploy.deploy(session, "test", None, given(distribution, AlarmEmail="a@b.c"), out=out)
    web = deploy.outputs_of(_stack(session))["WebBucketName"]
    session.client("s3").put_object(Bucket=web, Key="old.js", Body=b"")

    deploy.deploy(session, "test", None, {}, out=out)

    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in _stack(session)["Parameters"]}
    assert parameters["AlarmEmail"] == "a@b.c"
    assert parameters["PortalUrl"] == "https://d1.cloudfront.net"
    keys = {o["Key"] for o in session.client("s3").list_objects_v2(Bucket=web)["Contents"]}
    assert keys == {name for name, _ in deploy.web_files()}


def test_destroy_empties_the_web_bucket_and_keeps_the_data(session: Any, tmp_path: Path) -> None:
    out = _build(tmp_path, STAND_IN)
    deploy.deploy(session, "test", None, given(_distribution(session)), out=out)

    deploy.destroy(session, "test", yes=True)

    assert deploy.describe(session.client("cloudformation"), "sides-portal-test") is None
    assert session.client("dynamodb").list_tables()["TableNames"] == ["sides-portal-test-stores"]


def test_an_undeployable_build_is_refused(session: Any, tmp_path: Path) -> None:
    out = _build(tmp_path, STAND_IN, deployable=False)

    with pytest.raises(deploy.DeployError, match="not deployable: built with --skip-deps"):
        deploy.deploy(session, "test", None, {}, out=out)


def test_code_is_uploaded_once_by_content(session: Any, tmp_path: Path) -> None:
    (tmp_path / "functions" / "f").mkdir(parents=True)
    (tmp_path / "functions" / "f" / "handler.py").write_text("def handler(e, c): ...\n")
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "deployment.zip").write_bytes(b"PK-zip")
    template = {
        "Resources": {
            "F": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "functions/f"}},
            "APIHandler": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "api/deployment.zip"},
            },
        }
    }
    s3 = session.client("s3")
    deploy.ensure_bucket(s3, "artifacts", REGION)

    deploy.upload_code(s3, "artifacts", "test", tmp_path, template)

    code = {k: r["Properties"]["CodeUri"] for k, r in template["Resources"].items()}
    assert {c["Bucket"] for c in code.values()} == {"artifacts"}
    api = s3.get_object(Bucket="artifacts", Key=code["APIHandler"]["Key"])["Body"].read()
    assert api == b"PK-zip"
    function = s3.get_object(Bucket="artifacts", Key=code["F"]["Key"])["Body"].read()
    assert zipfile.ZipFile(io.BytesIO(function)).namelist() == ["handler.py"]
    public = s3.get_public_access_block(Bucket="artifacts")["PublicAccessBlockConfiguration"]
    assert all(public.values())


def test_function_zips_depend_on_contents_only(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("b = 2\n")

    first = deploy.zip_directory(tmp_path)
    os.utime(tmp_path / "b.py", (0, 0))
    second = deploy.zip_directory(tmp_path)

    assert first == second
    assert zipfile.ZipFile(io.BytesIO(first)).namelist() == ["a/x.py", "b.py"]


def test_parameters_keep_previous_values_unless_given() -> None:
    template = {"Parameters": {"Stage": {}, "AlarmEmail": {}, "PortalUrl": {}, "New": {}}}
    existing = {
        "Parameters": [
            {"ParameterKey": "Stage", "ParameterValue": "prod"},
            {"ParameterKey": "AlarmEmail", "ParameterValue": "ops@example.com"},
            {"ParameterKey": "PortalUrl", "ParameterValue": ""},
        ]
    }

    parameters = deploy.stack_parameters(template, existing, {"Stage": "prod", "PortalUrl": "x"})

    assert parameters == [
        {"ParameterKey": "Stage", "ParameterValue": "prod"},
        {"ParameterKey": "AlarmEmail", "UsePreviousValue": True},
        {"ParameterKey": "PortalUrl", "ParameterValue": "x"},
    ]  # "New" takes its default
    with pytest.raises(deploy.DeployError, match="Typo"):
        deploy.stack_parameters(template, existing, {"Typo": "1"})


def test_parameters_from_the_command_line() -> None:
    assert deploy.parse_parameters(["AlarmEmail=ops@example.com", "PortalUrl="]) == {
        "AlarmEmail": "ops@example.com",
        "PortalUrl": "",
    }
    with pytest.raises(deploy.DeployError):
        deploy.parse_parameters(["AlarmEmail"])


def test_web_files_get_types_and_caching() -> None:
    files = dict(deploy.web_files())

    assert "index.html" in files and "app.js" in files
    assert deploy.content_type("index.html") == "text/html; charset=utf-8"
    assert deploy.content_type("app.js").endswith("javascript; charset=utf-8")
    assert deploy.CACHE_CONTROL.get("app.js", deploy.CACHE_CONTROL_DEFAULT).startswith("public")
