"""infra/package.py really runs `chalice package`; what it builds lints, imports and is lean.

The build here skips third-party packages (offline and fast); what chalice would bundle is
checked against the installed distributions' metadata instead. `bench/package_size.py` builds
with every dependency and prints the sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from infra import definitions
from infra.package import API_REQUIREMENTS, function_specs, handler_module, module_path

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"
PDF_LIBRARIES = ("fpdf", "fontTools", "PIL")
# Nothing may reach AWS: credentials that are fake, an endpoint where nothing listens.
OFFLINE_ENV = {
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / STAGE
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | OFFLINE_ENV
    result = subprocess.run(
        [sys.executable, "-m", "infra.package", "--stage", STAGE, "--out", str(out), "--skip-deps"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def packaged(build: Path) -> dict[str, Any]:
    template: dict[str, Any] = yaml.safe_load((build / "template.yaml").read_text())
    return template


def test_packaged_template_passes_cfn_lint(build: Path) -> None:
    config = ManualArgs(regions=["eu-central-1"], include_checks=["I"])

    matches = lint_file(build / "template.yaml", config=config)

    assert [str(match) for match in matches] == []


def test_chalice_output_is_merged_with_the_template(packaged: dict[str, Any]) -> None:
    resources = packaged["Resources"]
    api = resources["APIHandler"]["Properties"]
    body = resources["RestAPI"]["Properties"]["DefinitionBody"]

    assert "DefaultRole" not in resources  # chalice's own role, with logs on "*"
    assert api["Role"] == {"Fn::GetAtt": ["ApiRole", "Arn"]}
    assert api["Architectures"] == ["arm64"] and api["Tracing"] == "Active"
    assert api["Environment"]["Variables"]["PORTAL_PREFIX"] == {"Fn::Sub": "sides-portal-${Stage}"}
    # chalice's part: the routes, all to the API's function
    assert "/api/health" in body["paths"] and "/api/webhooks/stripe" in body["paths"]
    assert "${APIHandler.Arn}" in json.dumps(body["paths"])
    # ours: the gateway responses
    assert "MISSING_AUTHENTICATION_TOKEN" in body["x-amazon-apigateway-gateway-responses"]
    assert packaged["Parameters"]["Stage"]["Default"] == STAGE
    # everything of the source template is in the packaged one
    assert set(definitions.load_template()["Resources"]) <= set(resources)


def test_packaged_template_grants_nothing_on_everything(build: Path) -> None:
    template = definitions.load_template(build / "template.yaml")
    for role_id, role in definitions.resources_of_type(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                actions = statement["Action"]
                actions = actions if isinstance(actions, list) else [actions]
                assert not [a for a in actions if "*" in a], role_id
                if statement["Resource"] == "*":
                    assert all(a.startswith("xray:") for a in actions), role_id


def test_code_paths_point_into_the_build(build: Path, packaged: dict[str, Any]) -> None:
    manifest = json.loads((build / "manifest.json").read_text())

    for logical_id, resource in packaged["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            assert (build / resource["Properties"]["CodeUri"]).exists(), logical_id
    assert manifest["deployable"] is False  # --skip-deps
    assert manifest["problems"] == ["built with --skip-deps: no third-party packages"]


def test_a_function_package_holds_its_own_handler_only(build: Path) -> None:
    for spec in function_specs(definitions.load_template()):
        functions = build / "functions" / spec.name / "functions"
        held = sorted(p.name for p in functions.iterdir() if p.name != "__pycache__")
        assert held == ["__init__.py", spec.name]
        assert (build / "functions" / spec.name / "chalicelib" / "bootstrap.py").is_file()


# --- every handler imports from its package, without AWS -----------------------------------

HANDLERS = {
    logical_id: resource["Properties"]["Handler"]
    for logical_id, resource in definitions.resources_of_type(
        definitions.load_template(), "AWS::Serverless::Function"
    ).items()
}
# Refuses any connection: importing a handler must not talk to anything.
IMPORT_PROBE = """
import importlib, json, os, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access while importing")
socket.socket.connect = refuse
socket.create_connection = refuse
module_name, attribute = sys.argv[1], sys.argv[2]
module = importlib.import_module(module_name)
print(json.dumps({"file": module.__file__, "callable": callable(getattr(module, attribute))}))
"""


@pytest.fixture(scope="module")
def api_package(build: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("api")
    with zipfile.ZipFile(build / "api" / "deployment.zip") as archive:
        archive.extractall(target)
    return target


def _lambda_env(packaged: dict[str, Any]) -> dict[str, str]:
    """The settings the functions get in AWS, with made-up values."""
    variables = packaged["Globals"]["Function"]["Environment"]["Variables"]
    env = {
        name: value if isinstance(value, str) else f"test-{name.lower().replace('_', '-')}"
        for name, value in variables.items()
    }
    return env | {
        "PORTAL_PREFIX": "sides-portal-test",
        "PORTAL_URL": "https://portal.test",
        "PAYPAL_ENABLED": "false",
    }


@pytest.mark.parametrize("logical_id", sorted(HANDLERS))
def test_handler_resolves_and_imports_without_aws(
    logical_id: str, build: Path, packaged: dict[str, Any], api_package: Path
) -> None:
    handler = HANDLERS[logical_id]
    module, attribute = handler_module(handler), handler.rsplit(".", 1)[1]
    source = module_path(ROOT, module)
    if not source.is_file():
        pytest.xfail(f"{source.relative_to(ROOT)} does not exist yet (due before release)")
    code_uri = packaged["Resources"][logical_id]["Properties"]["CodeUri"]
    package = api_package if code_uri.endswith(".zip") else build / code_uri
    assert module_path(package, module).is_file(), f"{handler} is not in {code_uri}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PORTAL_"))}

    result = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, module, attribute],
        cwd=package,  # first on sys.path, as the package root is in Lambda
        env=env | OFFLINE_ENV | _lambda_env(packaged),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported["callable"] is True
    assert Path(imported["file"]).resolve().is_relative_to(package.resolve())


# --- the API package carries no PDF library -------------------------------------------------


def test_api_package_contains_no_pdf_or_font_library(build: Path) -> None:
    with zipfile.ZipFile(build / "api" / "deployment.zip") as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}

    assert {"app.py", "chalicelib", "chalice"} <= tops
    assert not [t for t in tops if t.split("-", 1)[0] in PDF_LIBRARIES]


def _closure(requirements_file: Path) -> set[str]:
    """The distributions a requirements file pulls in, from the installed metadata."""
    pending = [
        Requirement(line)
        for line in (
            raw.split("#", 1)[0].strip() for raw in requirements_file.read_text().splitlines()
        )
        if line and not line.startswith("-")
    ]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for dependency in map(Requirement, metadata.requires(name) or []):
            wanted = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
            if dependency.marker is None or any(dependency.marker.evaluate(e) for e in wanted):
                pending.append(dependency)
    return seen


def test_what_the_api_bundles_pulls_in_no_pdf_library() -> None:
    bundled = _closure(ROOT / "requirements.txt")
    pdf = _closure(ROOT / "requirements-pdf.txt")

    assert {"fpdf2", "fonttools", "pillow"} <= pdf  # the check can see them
    assert "cryptography" in bundled  # and follows extras (PyJWT[crypto])
    assert not bundled & {"fpdf2", "fonttools", "pillow"}
    assert API_REQUIREMENTS == ("requirements.txt",)


# --- packages carry bytecode, so a cold start compiles nothing ------------------------------


def _unchecked_bytecode(data: bytes) -> bool:
    # PEP 552: the flags word after the magic number; 0b01 hash-based, 0b10 check the source
    return int.from_bytes(data[4:8], "little") == 0b01


def test_packages_carry_bytecode_that_never_checks_its_source(build: Path) -> None:
    tag = sys.implementation.cache_tag
    with zipfile.ZipFile(build / "api" / "deployment.zip") as archive:
        names = set(archive.namelist())
        sources = {n for n in names if n.startswith("chalicelib/") and n.endswith(".py")}
        for source in sources:
            folder, _, module = source.rpartition("/")
            compiled = f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc"
            assert compiled in names, f"{source} has no bytecode in the API package"
            assert _unchecked_bytecode(archive.read(compiled)), compiled
    for spec in function_specs(definitions.load_template()):
        package = build / "functions" / spec.name
        for source in package.rglob("*.py"):
            compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
            assert compiled.is_file(), f"{source.relative_to(build)} has no bytecode"
            assert _unchecked_bytecode(compiled.read_bytes()), compiled
