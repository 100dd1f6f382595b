"""Sizes of the deployment packages against Lambda's 250 MB limit (design.md §8).

Builds build/<stage>/ with infra/package.py first, dependencies included (the first build
downloads Lambda wheels from PyPI, later ones reuse build/.deps/), unless `--no-build` reads
what is already there. Prints the unzipped size of the API package (the contents of chalice's
deployment.zip) and of each function package, and whether the API package is free of the PDF,
font and e-invoice libraries (fpdf, fontTools, PIL, font_lato, drafthorse, facturx, lxml,
pypdf); exits non-zero if a budget is broken.

    python bench/package_size.py [--stage dev] [--no-build]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT_MB = 250.0  # unzipped: function code and layers together
# The rendering libraries (PDF, fonts, the e-invoice XML) belong to the functions that issue.
PDF_LIBRARIES = ("fpdf", "fontTools", "PIL", "font_lato", "drafthorse", "facturx", "lxml", "pypdf")
MB = 1024 * 1024


def build(stage: str) -> None:
    subprocess.run([sys.executable, "-m", "infra.package", "--stage", stage], cwd=ROOT, check=True)


def api_package(out: Path) -> tuple[float, float, list[str]]:
    path = out / "api" / "deployment.zip"
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
    unzipped = sum(info.file_size for info in infos) / MB
    tops = {info.filename.split("/", 1)[0] for info in infos}
    found = sorted(t for t in tops if t.split("-", 1)[0] in PDF_LIBRARIES)
    return unzipped, path.stat().st_size / MB, found


def directory_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / MB


def row(name: str, size_mb: float, note: str = "") -> str:
    share = 100 * size_mb / LIMIT_MB
    return f"{name:<28} {size_mb:8.1f} MB  {share:5.1f} % of {LIMIT_MB:.0f} MB  {note}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--no-build", action="store_true", help="measure build/<stage> as it is")
    args = parser.parse_args()
    out = ROOT / "build" / args.stage
    if not args.no_build:
        build(args.stage)
    manifest = json.loads((out / "manifest.json").read_text())
    unzipped, zipped, pdf_in_api = api_package(out)
    sizes = {"api (deployment.zip)": unzipped}
    print(f"package sizes, stage {args.stage} ({manifest['platform']}), unzipped:")
    print(row("api (deployment.zip)", unzipped, f"zip {zipped:.1f} MB"))
    for name, function in manifest["functions"].items():
        sizes[name] = directory_mb(out / function["path"])
        print(row(name, sizes[name], " + ".join(function["requirements"])))
    if not manifest["deployable"]:
        print(f"note: not a deployable build: {'; '.join(manifest['problems'])}")
    over = [name for name, size in sizes.items() if size > LIMIT_MB]
    print(
        f"every package under {LIMIT_MB:.0f} MB: {'yes' if not over else 'NO: ' + ', '.join(over)}"
    )
    print(
        "API package without PDF, font or e-invoice libraries: "
        + ("yes" if not pdf_in_api else "NO: " + ", ".join(pdf_in_api))
    )
    return 1 if over or pdf_in_api else 0


if __name__ == "__main__":
    sys.exit(main())
