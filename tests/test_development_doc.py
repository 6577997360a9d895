"""docs/development.md lists every module of the package, and only modules that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "weatherlake"
DOC = ROOT / "docs" / "development.md"

#: A Python file named in inline code: `config.py`, `lake/layout.py`, `tests/conftest.py`.
NAMED_FILE = re.compile(r"`([A-Za-z0-9_./-]+\.py)`")
#: Paths that are relative to the repository root; every other name is a module path
#: relative to src/weatherlake/.
ROOT_RELATIVE = ("tests/", "benchmarks/", "scripts/", "docs/", "src/")


def package_modules() -> set[str]:
    """Every module under src/weatherlake/ as a package-relative path, e.g. ``batch/extract.py``."""
    return {
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }


def named_files() -> set[str]:
    return set(NAMED_FILE.findall(DOC.read_text()))


def test_the_package_has_modules_to_check():
    assert {"config.py", "lake/layout.py", "batch/extract.py"} <= package_modules()


def test_every_module_is_in_the_development_doc():
    missing = sorted(package_modules() - named_files())
    assert not missing, f"docs/development.md does not mention: {', '.join(missing)}"


def test_every_file_the_development_doc_names_exists():
    absent = sorted(
        name for name in named_files()
        if not (ROOT / name if name.startswith(ROOT_RELATIVE) else PACKAGE / name).is_file()
    )
    assert not absent, f"docs/development.md names files that do not exist: {', '.join(absent)}"
