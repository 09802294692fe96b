"""OPML import checks every outline with feeds.toml's rules before anything is written, reports
each refused one in one line, and replaces feeds.toml in one rename; feeds.toml stays readable."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_config

from aggregator.cli import main
from aggregator.config import load_config


def _opml(*outlines: str, encoding: str = "UTF-8") -> str:
    return (f'<?xml version="1.0" encoding="{encoding}"?><opml version="2.0"><head/><body>'
            + "".join(outlines) + "</body></opml>")


GOOD = '<outline text="Good News" xmlUrl="https://good.example/rss" role="wire" interval="30"/>'
BAD = [
    ('<outline text="Script" xmlUrl="javascript:alert(1)"/>', "key 'url'"),
    ('<outline text="Two&#10;lines" xmlUrl="https://two.example/rss"/>', "key 'outlet'"),
    ('<outline text="Negative" xmlUrl="https://neg.example/rss" interval="-5"/>', "key 'interval'"),
    ('<outline text="Huge" xmlUrl="https://huge.example/rss" interval="99999999999999"/>',
     "key 'interval'"),
    ('<outline text="Spy" xmlUrl="https://spy.example/rss" role="spy"/>', "key 'role'"),
    ('<outline text="Bracket" xmlUrl="http://[::1/rss"/>', "key 'url'"),
    ('<outline text="Full" xmlUrl="https://full.example/rss" fulltext="maybe"/>', "key 'fulltext'"),
    ('<outline text="" xmlUrl=""/>', "key 'url'"),
]


@pytest.mark.parametrize(("outline", "key"), BAD, ids=[b[1] + str(i) for i, b in enumerate(BAD)])
def test_a_bad_outline_is_refused_in_one_line_and_the_good_ones_are_added(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], outline: str, key: str
) -> None:
    cfg = write_config(tmp_path, [{"url": "https://old.example/rss", "outlet": "Old"}])
    (tmp_path / "in.opml").write_text(_opml(GOOD, outline), encoding="utf-8")
    assert main(["--config", str(cfg), "feeds", "import", str(tmp_path / "in.opml")]) == 1
    out = capsys.readouterr()
    refused = out.err.splitlines()
    assert len(refused) == 1 and "outline 2" in refused[0] and key in refused[0]
    assert "imported 1 feeds" in out.out and "1 refused" in out.out
    assert [f.outlet for f in load_config(cfg).feeds] == ["Old", "Good News"]


def test_feeds_already_there_are_skipped_and_nothing_is_written_for_nothing_new(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(tmp_path, [{"url": "https://good.example/rss", "outlet": "Good News"}])
    before = cfg.read_bytes()
    same = '<outline text="Again" xmlUrl="https://good.example/rss"/>'
    (tmp_path / "in.opml").write_text(_opml(same, same), encoding="utf-8")
    assert main(["--config", str(cfg), "feeds", "import", str(tmp_path / "in.opml")]) == 0
    out = capsys.readouterr().out
    assert "imported 0 feeds" in out and "2 already there" in out
    assert cfg.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.toml", "in.opml"]  # no temp


@pytest.mark.parametrize(("data", "says"), [
    (_opml(GOOD).encode("utf-8").replace(b"Good News", b"Caf\xe9 News"), "not valid OPML"),
    (b"\xff\xfe\x00<\x00o", "not valid OPML"),
    (b"not xml at all", "not valid OPML"),
    (_opml('<outline text="Caf\xe9" xmlUrl="https://cafe.example/rss"/>',
           encoding="ISO-8859-1").encode("latin-1"), ""),  # declared, so read
])
def test_encodings_and_broken_documents(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        data: bytes, says: str) -> None:
    cfg = write_config(tmp_path, [])
    (tmp_path / "in.opml").write_bytes(data)
    code = main(["--config", str(cfg), "feeds", "import", str(tmp_path / "in.opml")])
    err = capsys.readouterr().err.splitlines()
    if says:
        assert code == 1 and len(err) == 1 and says in err[0]
    else:
        assert code == 0 and [f.outlet for f in load_config(cfg).feeds] == ["Caf\xe9"]
    load_config(cfg)  # feeds.toml is readable whatever happened
