"""The origin secret: CloudFront sends it to the API, the API reads it, nobody else can."""

from __future__ import annotations

import json
from typing import Any

from infra import definitions
from infra.definitions import Intrinsic

TEMPLATE = definitions.load_template()
RESOURCES = TEMPLATE["Resources"]


def _api_origin() -> dict[str, Any]:
    origins = RESOURCES["WebDistribution"]["Properties"]["DistributionConfig"]["Origins"]
    (api,) = [origin for origin in origins if origin["Id"] == "api"]
    return dict(api)


def test_the_secret_is_generated_as_json_with_a_current_value() -> None:
    secret = RESOURCES["OriginSecret"]
    generate = secret["Properties"]["GenerateSecretString"]
    assert generate["GenerateStringKey"] == "current"
    assert json.loads(generate["SecretStringTemplate"]) == {"previous": ""}
    assert generate["PasswordLength"] >= 32
    name = Intrinsic("Fn::Sub", "sides-portal-${Stage}/origin-secret")
    assert secret["Properties"]["Name"] == name


def test_cloudfront_sends_the_current_value_to_the_api_only() -> None:
    headers = {h["HeaderName"]: h["HeaderValue"] for h in _api_origin()["OriginCustomHeaders"]}
    from chalicelib.services.edge import ORIGIN_HEADER

    assert {name.lower() for name in headers} >= {ORIGIN_HEADER}
    assert headers["X-Origin-Verify"] == Intrinsic(
        "Fn::Sub", "{{resolve:secretsmanager:${OriginSecret}:SecretString:current}}"
    )
    # a rotation changes the distribution, so CloudFormation resolves the secret again
    assert headers["X-Origin-Secret-Rotation"] == Intrinsic("Ref", "OriginSecretRotation")
    origins = RESOURCES["WebDistribution"]["Properties"]["DistributionConfig"]["Origins"]
    for origin in origins:
        if origin["Id"] != "api":
            assert "OriginCustomHeaders" not in origin, "the secret must not go to the bucket"


def test_only_the_api_function_may_read_the_secret() -> None:
    readers = set()
    for logical_id, resource in RESOURCES.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                resources = statement.get("Resource")
                listed = resources if isinstance(resources, list) else [resources]
                if Intrinsic("Ref", "OriginSecret") in listed:
                    readers.add(logical_id)
    assert readers == {"ApiRole"}


def test_the_api_reads_the_secret_the_template_names() -> None:
    from chalicelib.config import Settings

    settings = Settings(
        prefix="sides-portal-test", region="eu-central-1", aws_endpoint_url=None,
        invoice_bucket="b", user_pool_id="p", user_pool_client_id="c", event_bus_name="e",
        mail_from="m", support_email="s", support_phone="p", support_hours="h",
        portal_url="https://x", stripe_publishable_key="", stripe_js_url="", paypal_enabled=False,
    )  # fmt: skip
    name = RESOURCES["OriginSecret"]["Properties"]["Name"].args
    assert settings.origin_secret_name == name.replace("${Stage}", "test")
