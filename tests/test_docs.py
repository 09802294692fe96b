"""The docs are tested: every CLI command has help text and appears in the README."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from aggregator.cli import main, parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _commands() -> list[tuple[str, argparse.ArgumentParser, str]]:
    out = []
    for action in parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                out.append((name, sub, helps.get(name) or ""))
                for a in sub._actions:
                    if isinstance(a, argparse._SubParsersAction):
                        sub_helps = {x.dest: x.help for x in a._choices_actions}
                        for n2, s2 in a.choices.items():
                            out.append((f"{name} {n2}", s2, sub_helps.get(n2) or ""))
    return out


COMMANDS = _commands()


def test_there_are_commands() -> None:
    names = {n for n, _, _ in COMMANDS}
    assert {"poll", "cluster", "feeds", "feeds import", "feeds export", "eval", "clusters",
            "build", "email", "run", "demo"} <= names


@pytest.mark.parametrize(("name", "sub", "help_text"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_command_has_help_and_is_in_readme(name: str, sub: argparse.ArgumentParser,
                                           help_text: str) -> None:
    assert help_text.strip(), f"{name} has no help"
    assert f"aggregator {name}" in README, f"README does not mention `aggregator {name}`"
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{name} {action.option_strings} has no help"


def test_help_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    assert "clusters" in capsys.readouterr().out
