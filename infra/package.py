"""Builds what infra/deploy.py deploys: `python -m infra.package --stage prod`.

    build/<stage>/
      api/deployment.zip      the API, by `chalice package` (app.py, chalicelib/, vendor/)
      api/sam.yaml            chalice's template merged with infra/template.yaml
      functions/<name>/       chalicelib/ + functions/<name>/ + that function's requirements
      template.yaml           the deployable template: code paths relative to this directory
      manifest.json           what was built and whether it can be deployed

The dependencies are installed once per set of requirement files as Lambda wheels (the
template's runtime and architecture) into build/.deps/, with pip's cache in build/.pip-cache/,
and copied into each package; the API gets them as chalice's `vendor/` directory, so API and
functions carry the very same wheels. Which requirement files a function needs is the
template's `Metadata.SidesPortal.Requirements`: only what renders invoices gets the PDF
library, never the API.

`--skip-deps` builds everything without third-party packages (tests use it: offline, fast).
If pip cannot fetch Lambda wheels, the build falls back to the host's packages; both kinds of
build are marked not deployable in the manifest, and infra/deploy.py refuses them.
"""

from __future__ import annotations

import argparse
import compileall
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from py_compile import PycInvalidationMode
from typing import Any

import yaml

from infra import definitions

log = logging.getLogger("infra.package")
ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
PIP_CACHE = BUILD / ".pip-cache"
DEPS_CACHE = BUILD / ".deps"
API_REQUIREMENTS = ("requirements.txt",)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache")
_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}


class PackagingError(RuntimeError):
    """The build cannot go on (a missing stage, a failing tool)."""


@dataclasses.dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str  # the directory under functions/ (and build/<stage>/functions/)
    handler: str
    requirements: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Platform:
    python_version: str  # "3.11"
    machine: str  # "aarch64"

    @property
    def pip_platform(self) -> str:
        # Lambda's python3.11 runs on Amazon Linux 2 (glibc 2.26): manylinux2014 wheels.
        return f"manylinux2014_{self.machine}"


@dataclasses.dataclass
class Manifest:
    stage: str
    platform: str
    api: str = "api/deployment.zip"
    functions: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def deployable(self) -> bool:
        return not self.problems

    def as_json(self) -> str:
        data = dataclasses.asdict(self)
        data["deployable"] = self.deployable
        return json.dumps(data, indent=2) + "\n"


# --- what the template asks for ---------------------------------------------------------


def lambda_platform(template: definitions.Template) -> Platform:
    function_globals = template.get("Globals", {}).get("Function", {})
    runtime = str(function_globals.get("Runtime", ""))
    (architecture,) = function_globals.get("Architectures", ["x86_64"])
    if not runtime.startswith("python3."):
        raise PackagingError(f"Globals.Function.Runtime is {runtime!r}, not a Python runtime")
    return Platform(runtime.removeprefix("python"), _MACHINES[str(architecture)])


def function_specs(template: definitions.Template) -> list[FunctionSpec]:
    """The template's functions built from functions/<name> (chalice builds the API's)."""
    specs = []
    for logical_id, resource in definitions.resources_of_type(
        template, "AWS::Serverless::Function"
    ).items():
        code_uri = resource["Properties"].get("CodeUri", "")
        if not (isinstance(code_uri, str) and code_uri.startswith("functions/")):
            continue
        metadata = resource.get("Metadata", {}).get("SidesPortal", {})
        specs.append(
            FunctionSpec(
                logical_id=logical_id,
                name=code_uri.removeprefix("functions/"),
                handler=str(resource["Properties"]["Handler"]),
                requirements=tuple(metadata.get("Requirements", API_REQUIREMENTS)),
            )
        )
    return specs


def handler_module(handler: str) -> str:
    """`functions.x.handler.handler` -> `functions.x.handler`; `app.app` -> `app`."""
    return handler.rsplit(".", 1)[0]


def module_path(base: Path, module: str) -> Path:
    return base.joinpath(*module.split(".")).with_suffix(".py")


# --- dependencies -----------------------------------------------------------------------


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=False)


def dependencies(requirements: Sequence[str], platform: Platform) -> tuple[Path, bool]:
    """The installed requirements (cached by content) and whether they are Lambda wheels."""
    digest = hashlib.sha256(platform.pip_platform.encode() + platform.python_version.encode())
    for name in requirements:
        digest.update((ROOT / name).read_bytes())
    target = DEPS_CACHE / digest.hexdigest()[:16]
    if (target / ".complete").exists():
        return target, not (target / ".host-platform").exists()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    files = [arg for name in requirements for arg in ("-r", str(ROOT / name))]
    common = ["--target", str(partial), "--no-compile", "--cache-dir", str(PIP_CACHE), *files]
    result = _pip(
        "--platform", platform.pip_platform, "--implementation", "cp",
        "--python-version", platform.python_version, "--only-binary=:all:", *common,
    )  # fmt: skip
    lambda_wheels = result.returncode == 0
    if not lambda_wheels:
        log.warning(
            "WARNING: no %s wheels (%s); installing the host's packages instead: "
            "this build is NOT deployable",
            platform.pip_platform,
            result.stderr.strip()[-300:],
        )
        shutil.rmtree(partial, ignore_errors=True)
        fallback = _pip(*common)
        if fallback.returncode != 0:
            raise PackagingError(f"pip install failed: {fallback.stderr.strip()[-500:]}")
        (partial / ".host-platform").touch()
    shutil.rmtree(partial / "bin", ignore_errors=True)
    (partial / ".complete").touch()
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target, lambda_wheels


def _copy_dependencies(source: Path, target: Path) -> None:
    shutil.copytree(
        source,
        target,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".complete", ".host-platform", "__pycache__"),
    )


# --- the packages -----------------------------------------------------------------------


def precompile(directory: Path, platform: Platform) -> bool:
    """Writes every module's bytecode next to it, checked by no timestamp or hash.

    Lambda's code directory is read-only: a package without bytecode compiles every module it
    imports on each cold start, and the zip's coarse timestamps would make timestamp-checked
    bytecode stale anyway. Unchecked bytecode is right for code that never changes in place.
    It only helps when this interpreter is the runtime's version; otherwise nothing is written.
    """
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != platform.python_version:
        log.warning(
            "no bytecode: building with %s for python%s", sys.version, platform.python_version
        )
        return False
    return bool(
        compileall.compile_dir(
            directory,
            quiet=1,
            workers=0,
            invalidation_mode=PycInvalidationMode.UNCHECKED_HASH,
        )
    )


def build_function(
    spec: FunctionSpec, out: Path, platform: Platform, *, skip_deps: bool, manifest: Manifest
) -> None:
    target = out / "functions" / spec.name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    shutil.copytree(ROOT / "chalicelib", target / "chalicelib", ignore=_IGNORE)
    (target / "functions").mkdir()
    shutil.copy2(ROOT / "functions" / "__init__.py", target / "functions" / "__init__.py")
    source = ROOT / "functions" / spec.name
    if source.is_dir():
        shutil.copytree(source, target / "functions" / spec.name, ignore=_IGNORE)
    if not module_path(target, handler_module(spec.handler)).is_file():
        manifest.problems.append(f"{spec.logical_id}: {spec.handler} has no module yet")
    if not skip_deps:
        deps, lambda_wheels = dependencies(spec.requirements, platform)
        _copy_dependencies(deps, target)
        if not lambda_wheels:
            manifest.problems.append(f"{spec.name}: host packages, not {platform.pip_platform}")
    precompile(target, platform)
    manifest.functions[spec.name] = {
        "logical_id": spec.logical_id,
        "path": f"functions/{spec.name}",
        "handler": spec.handler,
        "requirements": list(spec.requirements),
    }


def _chalice_project(stage_dir: Path, platform: Platform, *, skip_deps: bool) -> tuple[Path, bool]:
    """A copy of what chalice packages, with the dependencies as its vendor/ directory."""
    project = stage_dir / ".chalice-project"
    for stale in ("app.py", "chalicelib", "vendor", "requirements.txt"):
        path = project / stale
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    (project / ".chalice").mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
    shutil.copy2(ROOT / "app.py", project / "app.py")
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=_IGNORE)
    # chalice would pip-install requirements.txt itself; vendor/ gives it our wheels instead.
    (project / "requirements.txt").write_text("")
    lambda_wheels = True
    if not skip_deps:
        deps, lambda_wheels = dependencies(API_REQUIREMENTS, platform)
        _copy_dependencies(deps, project / "vendor")
    # chalice zips chalicelib/ and vendor/ whole, bytecode included (app.py is one small file)
    precompile(project / "chalicelib", platform)
    if (project / "vendor").is_dir():
        precompile(project / "vendor", platform)
    return project, lambda_wheels


def chalice_package(project: Path, stage: str, out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
    env.setdefault("AWS_EC2_METADATA_DISABLED", "true")  # it needs no credentials
    command = [
        sys.executable, "-c", "import sys; from chalice.cli import main; sys.exit(main())",
        "package", "--stage", stage,
        "--merge-template", str(definitions.TEMPLATE_PATH), str(out),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise PackagingError(f"chalice package failed:\n{result.stdout}{result.stderr}")
    # chalice keeps a zip per code version; only the newest can ever be reused.
    cached = sorted((project / ".chalice" / "deployments").glob("*.zip"), key=os.path.getmtime)
    for stale in cached[:-1]:
        stale.unlink()


def final_template(stage: str, out: Path, manifest: Manifest) -> dict[str, Any]:
    """chalice's merged template, checked, with the stage as the default of `Stage`."""
    template: dict[str, Any] = yaml.safe_load((out / "api" / "sam.yaml").read_text())
    template["Parameters"]["Stage"]["Default"] = stage
    resources = template["Resources"]
    if "DefaultRole" in resources:
        raise PackagingError("chalice generated its own role: set manage_iam_role false")
    if resources["APIHandler"]["Properties"]["Role"] != {"Fn::GetAtt": ["ApiRole", "Arn"]}:
        raise PackagingError("APIHandler does not run with ApiRole of infra/template.yaml")
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            code_uri = resource["Properties"]["CodeUri"]
            if not (out / code_uri).exists():
                manifest.problems.append(f"{logical_id}: {code_uri} was not built")
    return template


def package(stage: str, out: Path, *, skip_deps: bool = False) -> Manifest:
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    if stage not in config["stages"] or stage == "local":
        raise PackagingError(
            f"no stage {stage!r} in .chalice/config.json (add one like 'prod': its API "
            "settings, manage_iam_role false)"
        )
    template = definitions.load_template()
    platform = lambda_platform(template)
    manifest = Manifest(
        stage=stage, platform=f"{platform.pip_platform} python{platform.python_version}"
    )
    if skip_deps:
        manifest.problems.append("built with --skip-deps: no third-party packages")
    out.mkdir(parents=True, exist_ok=True)
    for spec in function_specs(template):
        build_function(spec, out, platform, skip_deps=skip_deps, manifest=manifest)
    project, lambda_wheels = _chalice_project(out, platform, skip_deps=skip_deps)
    if not lambda_wheels:
        manifest.problems.append(f"api: host packages, not {platform.pip_platform}")
    chalice_package(project, stage, out / "api")
    deployable = final_template(stage, out, manifest)
    (out / "template.yaml").write_text(
        yaml.safe_dump(deployable, sort_keys=False, allow_unicode=True, width=100)
    )
    (out / "manifest.json").write_text(manifest.as_json())
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the portal's deployable packages.")
    parser.add_argument("--stage", required=True)
    parser.add_argument("--out", type=Path, help="default: build/<stage>")
    parser.add_argument(
        "--skip-deps", action="store_true", help="no third-party packages (not deployable)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = (args.out or BUILD / args.stage).resolve()
    try:
        manifest = package(args.stage, out, skip_deps=args.skip_deps)
    except PackagingError as exc:
        log.error("error: %s", exc)
        return 1
    log.info("built %s", out / "template.yaml")
    for problem in manifest.problems:
        log.warning("not deployable: %s", problem)
    return 0


if __name__ == "__main__":
    sys.exit(main())
