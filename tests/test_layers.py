"""The layers hold (import-linter contracts in pyproject.toml): matching imports nothing from
the store, ingest or publish; the store imports no matching logic; nothing imports the CLI."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_layer_contract_is_kept(capsys: pytest.CaptureFixture[str]) -> None:
    from importlinter import cli

    here = Path.cwd()
    os.chdir(ROOT)  # the contracts are read from pyproject.toml here
    try:
        code = cli.lint_imports(no_cache=True)
    finally:
        os.chdir(here)
    out = capsys.readouterr().out
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    names = [c["name"] for c in contracts["tool"]["importlinter"]["contracts"]]
    assert code == 0, out
    assert len(names) >= 5 and all(f"{n} KEPT" in out for n in names)
