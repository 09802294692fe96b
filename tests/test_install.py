"""What a user installs: every package the code imports is declared, every package of ours and
the templates ship. (`.ci/run` also builds the wheel and installs it into a fresh venv with the
stock pip of the system Python.)"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.resources
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Imported by a dependency, not by our code, and needed at run time all the same: trafilatura's
# jusText imports lxml.html.clean, which lxml moved out to lxml_html_clean.
INDIRECT = {"lxml_html_clean"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _imported_distributions() -> set[str]:
    top: set[str] = set()
    for path in (ROOT / "aggregator").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                top |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top.add(node.module.split(".")[0])
    third = {t for t in top if t not in sys.stdlib_module_names and t != "aggregator"}
    dists = importlib.metadata.packages_distributions()
    return {_name(d) for t in third | INDIRECT for d in dists.get(t, [t])}


def test_every_imported_package_is_declared() -> None:
    # The PostgreSQL driver is an extra: only store/postgres.py imports it, when asked to.
    optional = PYPROJECT["project"]["optional-dependencies"]["postgresql"]
    declared = {_name(r) for r in [*PYPROJECT["project"]["dependencies"], *optional]}
    assert _imported_distributions() <= declared


def test_every_package_of_ours_is_listed_for_the_wheel() -> None:
    on_disk = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "aggregator").rglob("__init__.py")
    }
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert on_disk | {"aggregator.templates"} == listed


def test_the_templates_are_read_from_the_package() -> None:
    shipped = importlib.resources.files("aggregator.templates")
    names = {p.name for p in (ROOT / "templates").iterdir() if p.suffix != ".py"}
    names.discard("__pycache__")
    assert names and all(shipped.joinpath(n).is_file() for n in names)


def test_the_lock_files_pin_what_pyproject_asks_for_with_hashes() -> None:
    def pins(name: str) -> dict[str, str]:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert "--hash=sha256:" in text
        return {_name(m[0]): m[1] for m in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}

    app, dev = pins("requirements.lock"), pins("requirements-dev.lock")
    assert {_name(r) for r in PYPROJECT["project"]["dependencies"]} <= app.keys()
    extras = PYPROJECT["project"]["optional-dependencies"]["dev"]
    assert {_name(r) for r in extras} <= dev.keys()
    assert all(dev[k] == v for k, v in app.items())  # one set of versions for both
