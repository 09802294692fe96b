"""feeds.toml: the shipped file is valid; bad files are refused naming file, entry and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregator.config import load_config
from aggregator.errors import ConfigError
from aggregator.store.clustering import ClusterState

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_config_lists_many_outlets() -> None:
    cfg = load_config(ROOT / "feeds.toml")
    assert len(cfg.feeds) >= 25
    assert len({f.country for f in cfg.feeds}) >= 8
    assert len({f.owner for f in cfg.feeds}) >= 15
    assert cfg.settings.limits.allowed_private_networks == ()
    assert Path(cfg.settings.database).parent == ROOT


BAD = [
    ('[[feeds]]\nurl = "https://a.example/rss"\n', "feeds entry 1", "'outlet'"),
    ('[[feeds]]\nurl = "ftp://a.example/rss"\noutlet = "A"\n', "feeds entry 1 (A)", "'url'"),
    ('[[feeds]]\nurl = "https://a.example/rss"\noutlet = "A"\ninterval = "often"\n', "(A)", "'interval'"),
    ('[[feeds]]\nurl = "https://a.example/rss"\noutlet = "A"\nrole = "spy"\n', "(A)", "'role'"),
    ('[[feeds]]\nurl = "https://a.example/rss"\noutlet = "A"\nfulltext = 1\n', "(A)", "'fulltext'"),
    ('[[feeds]]\nurl = "https://a.example/rss"\noutlet = "A"\ncolour = "red"\n', "(A)", "'colour'"),
    ('[[feeds]]\nurl = "https://a.example/rss"\noutlet = "A"\n[[feeds]]\nurl = "https://a.example/rss"\noutlet = "B"\n',
     "feeds entry 2 (B)", "duplicate"),
    ('[settings]\ntimeout = -1\n', "[settings]", "'timeout'"),
    ('[settings]\nallowed_private_networks = ["not-a-net"]\n', "[settings]", "'allowed_private_networks'"),
    ('[settings]\nwindow_hours = true\n', "[settings]", "'window_hours'"),
    ('[settings]\nstory_threshold = 1.5\n', "[settings]", "'story_threshold'"),
    ('[settings]\nstory_threshold = "low"\n', "[settings]", "'story_threshold'"),
    ('[settings]\npartition_by = "outlet"\n', "[settings]", "'partition_by'"),
    ('[email]\npassword = "hunter2"\n', "[email]", "'password'"),
    ('[email]\nsecurity = "ssl3"\n', "[email]", "'security'"),
    ('[email]\nrecipients = ["nobody"]\n', "[email]", "'recipients'"),
    ('[settings\n', "not valid TOML", ""),
    ('[surprise]\nx = 1\n', "unknown table", "surprise"),
]


@pytest.mark.parametrize(("text", "where", "key"), BAD)
def test_bad_config_is_refused_with_file_entry_and_key(tmp_path: Path, text: str, where: str,
                                                       key: str) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert str(path) in msg and where in msg and key in msg
    assert "\n" not in msg


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "feeds.toml"
    path.write_text('[settings]\ndatabase = "data/x.db"\n', encoding="utf-8")
    assert load_config(path).settings.database == str(tmp_path / "sub" / "data" / "x.db")


def test_story_threshold_reaches_the_clusterer(tmp_path: Path) -> None:
    from aggregator.jobs import _clusterer
    from aggregator.matching.clusterer import Clusterer
    from aggregator.matching.stories import STORY_THRESHOLD, threshold_for
    from aggregator.store import open_db

    path = tmp_path / "feeds.toml"
    path.write_text('[settings]\nstory_threshold = 0.25\n', encoding="utf-8")
    db = open_db(tmp_path / "x.db")
    assert _clusterer(db, load_config(path))._threshold() == 0.25  # as given, even when small
    path.write_text('[settings]\n', encoding="utf-8")
    default = _clusterer(db, load_config(path))
    assert default.threshold is None is Clusterer(ClusterState(db), 72).threshold
    assert default._threshold() == threshold_for(STORY_THRESHOLD, 0) < STORY_THRESHOLD


def test_a_server_url_is_the_database_and_the_environment_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text('[settings]\ndatabase = "postgresql://news@db.example/news"\n', encoding="utf-8")
    monkeypatch.delenv("AGGREGATOR_DATABASE_URL", raising=False)
    assert load_config(path).settings.database == "postgresql://news@db.example/news"
    monkeypatch.setenv("AGGREGATOR_DATABASE_URL", "postgresql://other@db2.example/news")
    assert load_config(path).settings.database == "postgresql://other@db2.example/news"
    path.write_text('[settings]\ndatabase = "news.db"\n', encoding="utf-8")
    assert load_config(path).settings.database == "postgresql://other@db2.example/news"
    monkeypatch.delenv("AGGREGATOR_DATABASE_URL")
    assert load_config(path).settings.database == str(tmp_path.resolve() / "news.db")
