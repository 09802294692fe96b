"""The e-mail digest against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import email
import re
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any

import pytest
from conftest import FeedServer, Sink, free_port
from sitefixture import build_fixture_db
from test_site import Audit

from aggregator.cli import main
from aggregator.config import load_config
from aggregator.model import Config
from aggregator.publish import sending
from aggregator.publish.sending import send_digest
from aggregator.store import open_db

NOW = datetime(2026, 11, 1, 18, 0, tzinfo=UTC)


def _config(server: FeedServer, tmp: Path, port: int, **email_over: Any) -> Config:
    build_fixture_db(server, tmp)
    cfg_path = tmp / "feeds.toml"
    text = cfg_path.read_text(encoding="utf-8")
    em = {"smtp_host": "127.0.0.1", "smtp_port": port, "security": "none",
          "sender": "digest@example.org", "recipients": ["ana@example.org", "bo@example.org"],
          "subject_prefix": "[news]", "unsubscribe_url": "https://example.org/unsub"}
    em.update(email_over)
    block = "\n[email]\n" + "\n".join(
        f"{k} = {__import__('json').dumps(v)}" for k, v in em.items()) + "\n"
    head, _, feeds = text.partition("\n[[feeds]]")
    cfg_path.write_text(head + block + "\n[[feeds]]" + feeds, encoding="utf-8")
    cfg = load_config(cfg_path)
    # One story with non-ASCII and right-to-left headlines.
    db = open_db(cfg.settings.database)
    db.execute("UPDATE articles SET title = 'Grève au port de Rotterdam — الإضراب في ميناء روتردام' "
               "WHERE title LIKE 'Dockers strike%' AND outlet = 'Morning Post'")
    db.close()
    return cfg


def _freshen(cfg: Config) -> None:
    """Make the fixture's stories recent, for commands that use the wall clock."""
    from aggregator.times import iso

    db = open_db(cfg.settings.database)
    db.execute("UPDATE story_links SET linked_at = ?", (iso(datetime.now(UTC)),))
    db.close()


def _parse(raw: bytes) -> email.message.EmailMessage:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_digest_is_delivered_once_with_both_parts(server: FeedServer, tmp_path: Path, smtp: Sink) -> None:
    cfg = _config(server, tmp_path, smtp.port, recipients=["ana@example.org", "bo@example.org"])  # type: ignore[attr-defined]
    result = send_digest(cfg, now=NOW)
    assert result.ok and result.sent, result.message
    assert len(smtp.messages) == 1
    msg = _parse(smtp.messages[0])
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["Message-ID"] == "<digest.default.2026-11-01@example.org>"
    assert msg["List-Unsubscribe"] == "<https://example.org/unsub>"
    assert msg["Subject"].startswith("[news] 2026-11-01: ")
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "New stories" in text and "Dockers strike over pay" in text
    assert "https://0.example/1" in text
    # The text part is plain text: feed markup appears as the characters it is, never escaped
    # twice, and it is inert there.
    assert "&lt;" not in text and "&#39;" not in text
    assert "Evil <script>alert('outlet')</script> News" in text
    assert "الإضراب" in text and "Grève" in html and 'dir="auto"' in html
    audit = Audit()
    audit.feed(html)
    problems = [p for p in audit.problems if not p.startswith("outbound link without rel")]
    assert problems == []
    assert "<img" not in html and "<link" not in html and "<script" not in html.lower()
    assert "javascript:" not in html
    assert not re.search(r"<[^>]*\son\w+\s*=", html)  # no handler on any element
    again = send_digest(cfg, now=NOW)
    assert again.ok and not again.sent and "already sent" in again.message
    assert len(smtp.messages) == 1


@pytest.mark.parametrize("crash_at", ["before_connect", "after_data", "before_mark_sent"])
def test_crash_never_sends_two_different_digests(server: FeedServer, tmp_path: Path, smtp: Sink,
                                                 monkeypatch: pytest.MonkeyPatch, crash_at: str) -> None:
    cfg = _config(server, tmp_path, smtp.port)  # type: ignore[attr-defined]

    class Crash(BaseException):
        pass

    real_send, real_mark = sending.mail.send, sending.mark

    def send(raw: bytes, settings: Any) -> None:
        if crash_at == "before_connect":
            raise Crash
        real_send(raw, settings)
        if crash_at == "after_data":
            raise Crash

    def mark(db: Any, record: Any, status: str, now: Any, error: str | None = None) -> None:
        if status == "sent" and crash_at == "before_mark_sent":
            raise Crash
        real_mark(db, record, status, now, error)

    monkeypatch.setattr(sending.mail, "send", send)
    monkeypatch.setattr(sending, "mark", mark)
    with pytest.raises(Crash):
        send_digest(cfg, now=NOW)
    monkeypatch.setattr(sending.mail, "send", real_send)
    monkeypatch.setattr(sending, "mark", real_mark)
    # The database changes meanwhile: a rebuilt digest would differ. The re-run must not rebuild.
    db = open_db(cfg.settings.database)
    db.execute("UPDATE stories SET title = 'Changed after the crash'")
    db.close()
    # The crashed run holds the digest until its claim is stale; then the re-run sends it.
    assert send_digest(cfg, now=NOW).sent is False
    later = NOW + sending.SENDING_STALE + timedelta(seconds=1)
    assert later.date() == NOW.date()
    assert send_digest(cfg, now=later).sent
    assert send_digest(cfg, now=later).sent is False
    ids = {_parse(m)["Message-ID"] for m in smtp.messages}
    bodies = {m.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in m else m for m in smtp.messages}
    assert ids == {"<digest.default.2026-11-01@example.org>"}
    assert len(bodies) == 1
    assert 1 <= len(smtp.messages) <= 2


def test_refused_recipient_fails_and_is_not_marked_sent(server: FeedServer, tmp_path: Path, smtp: Sink) -> None:
    cfg = _config(server, tmp_path, smtp.port,  # type: ignore[attr-defined]
                  recipients=["ana@example.org", "nobody@example.org"])
    result = send_digest(cfg, now=NOW)
    assert not result.ok and "nobody@example.org" in result.message
    db = open_db(cfg.settings.database)
    assert db.execute("SELECT status FROM digests").fetchone()[0] == "pending"


def test_connection_error_exits_non_zero(server: FeedServer, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(server, tmp_path, free_port())
    _freshen(cfg)
    code = main(["--config", cfg.path, "email"])
    assert code == 1
    assert "not sent" in capsys.readouterr().out


def test_dry_run_and_maildir(server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(server, tmp_path, 25, maildir="inbox")
    _freshen(cfg)
    out = tmp_path / "eml"
    assert main(["--config", cfg.path, "email", "--dry-run", "--out", str(out)]) == 0
    assert "dry run: digest written to" in capsys.readouterr().out
    files = list(out.glob("*.eml"))
    assert len(files) == 1 and _parse(files[0].read_bytes())["Message-ID"]
    result = send_digest(cfg)
    assert result.sent
    assert len(list((tmp_path / "inbox" / "new").iterdir())) == 1



def test_an_untitled_item_with_line_breaks_is_sent(server: FeedServer, tmp_path: Path,
                                                   smtp: Sink) -> None:
    from conftest import respond, rss, write_config

    items = [{"guid": f"u{o}", "link": f"https://{o}.example/u",
              "description": "<p>Harbour bridge closed\r\nafter cracks</p>\n\n<p>Second\u2028line"
                             "\u202e and more</p>",
              "pubDate": "Sun, 01 Nov 2026 10:00:00 GMT"} for o in range(2)]
    for o in range(2):
        server.routes[f"/u{o}.xml"] = respond(rss([items[o]]))
    cfg = write_config(tmp_path, [{"url": server.url(f"/u{o}.xml"), "outlet": f"Outlet {o}"}
                                  for o in range(2)],
                       email={"smtp_host": "127.0.0.1", "smtp_port": smtp.port,  # type: ignore[attr-defined]
                              "security": "none", "sender": "d@example.org",
                              "recipients": ["ana@example.org"]})
    assert main(["--config", str(cfg), "poll"]) == 0
    assert main(["--config", str(cfg), "email"]) == 0
    (raw,) = smtp.messages
    msg = _parse(raw)
    assert msg["Subject"].endswith("Harbour bridge closed after cracks Second line and more")
