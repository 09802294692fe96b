"""Publishing a site: one atomic switch, complete builds kept and bounded, nothing left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aggregator.errors import PublishError
from aggregator.publish.builds import KEEP_BUILDS, builds_folder, publish


def _builds(target: Path) -> list[str]:
    return sorted(p.name for p in builds_folder(target).iterdir() if p.name != ".lock")


def test_every_build_switches_the_link_and_old_ones_are_bounded(tmp_path: Path) -> None:
    target = tmp_path / "site"
    for n in range(KEEP_BUILDS + 3):
        assert publish(target, {"index.html": f"build {n}", "story/a.html": "a"}) == target
        assert (target / "index.html").read_text(encoding="utf-8") == f"build {n}"
    kept = _builds(target)
    assert len(kept) == KEEP_BUILDS + 1 and all(k.startswith("build-") for k in kept)
    assert os.readlink(target).endswith(kept[-1])


def test_partial_builds_of_a_dead_run_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "site"
    publish(target, {"index.html": "one"})
    dead = builds_folder(target) / "partial-20260101T000000000000Z-999999"
    (dead / "story").mkdir(parents=True)  # what a build killed half-way leaves
    publish(target, {"index.html": "two"})
    assert not dead.exists()
    assert all(name.startswith("build-") for name in _builds(target))


def test_a_failed_build_leaves_nothing_and_the_live_site_stands(tmp_path: Path) -> None:
    target = tmp_path / "site"
    publish(target, {"index.html": "good"})
    before = _builds(target)
    with pytest.raises(PublishError):
        publish(target, {"index.html": "bad", "../outside.html": "escape"})
    assert _builds(target) == before
    assert (target / "index.html").read_text(encoding="utf-8") == "good"
    assert not (tmp_path / "outside.html").exists()


@pytest.mark.parametrize("kind", ["folder", "file", "foreign link"])
def test_a_target_that_is_not_our_link_is_refused_before_anything_is_written(
    tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "site"
    if kind == "folder":
        target.mkdir()
    elif kind == "file":
        target.write_text("mine", encoding="utf-8")
    else:
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to("elsewhere")
    with pytest.raises(PublishError, match="not"):
        publish(target, {"index.html": "x"})
    assert not builds_folder(target).exists()
