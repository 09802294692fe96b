"""One feed never stops a poll: a raw-socket server answers with generated malformed responses
(broken status lines and headers, lengths that lie, bad redirects, numbers of hundreds of
digits, validators that are no header values) beside a healthy feed. Every poll exits 0 with no
traceback, stores the healthy feed, and records an outcome for every hostile feed, also on the
next poll, which sends back whatever validators were kept."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FeedServer, respond, rss, write_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rawserver import RawServer

from aggregator.cli import main

HUGE = "9" * 300
FEED = rss([{"title": "Item of a hostile server", "guid": "h-1", "link": "https://example.org/h"}],
           extra=f"<ttl>{HUGE}</ttl>").decode()

STATUS_LINES = [
    "HTTP/1.1 200 OK", "HTTP/1.1 304 Not Modified", "HTTP/1.1 301 Moved", "HTTP/1.1 302 Found",
    "HTTP/1.1 308 Permanent", "HTTP/1.1 429 Slow down", "HTTP/1.1 503 Busy", "HTTP/1.1 410 Gone",
    "", "garbage", "HTTP/1.1 99999 Huge", "HTTP/1.1 -1 Minus", "HTTP/9.9 200 OK", "HTTP/1.1 200",
    "HTTP/1.1 2OO OK", "HTTP/1.1 200 OK\x00",
]
LOCATIONS = [
    "http://[::1", "http://[::1]:99999/", "http://a.example:99999/", "http://a.example:-1/",
    "http://xn--a.example/", "http://xn--zz--.example/", "http://\u2603\u2603.example/",
    "http://ex ample.example/", "http://127\u30020\u30020\u30022/", "http://127%2E0%2E0%2E2/",
    "javascript:alert(1)", "//", "http://%zz/", "ftp://a.example/", "http://a.example/\x01",
    "http://" + "a" * 300 + ".example/", "http://2130706434/", "http://0x7f.2/", "http://[::ffff:127.0.0.2]/",
]
HEADERS = st.one_of(
    st.tuples(st.just("Content-Length"),
              st.sampled_from(["-5", "0", "3", "99999999999999999999", HUGE, "12, 12", "x"])),
    st.tuples(st.just("Transfer-Encoding"), st.sampled_from(["chunked", "gzip, chunked", "bogus"])),
    st.tuples(st.just("Content-Encoding"), st.sampled_from(["gzip", "br", "deflate", "x" * 100])),
    st.tuples(st.just("Location"), st.sampled_from(LOCATIONS)),
    st.tuples(st.just("Cache-Control"), st.sampled_from([f"max-age={HUGE}", "max-age=-1",
                                                         "max-age=\u0663\u0663", "max-age="])),
    st.tuples(st.just("Retry-After"), st.sampled_from([HUGE, "-5", "\u0663", "Wed, 31 Dec 9999 "
                                                       "23:59:59 GMT", "Fri, 01 Jan 1 00:00:00 GMT"])),
    st.tuples(st.sampled_from(["ETag", "Last-Modified"]),
              st.sampled_from(['"\x01\x02"', '"caf\xe9"', "\x7f" * 5, '"' + "e" * 5000 + '"',
                               "Mon, 01 Nov 2026 00:00:00 GMT\x0b", "ok"])),
    st.tuples(st.sampled_from(["X-Nul\x00", "X Space", "X-Big", ":", ""]),
              st.sampled_from(["a" * 20000, "v\x00v", "\x1b[31m", "ok"])),
    st.tuples(st.just("Content-Type"), st.sampled_from(["application/feed+json", "text/html",
                                                         "application/rss+xml; charset=bogus"])),
)
BODIES = st.sampled_from([
    FEED, "", "<rss", "{", '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": '
    + HUGE + ', "title": "n"}]}', "\x00" * 100, FEED * 3,
])


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    status = draw(st.sampled_from(STATUS_LINES))
    headers = draw(st.lists(HEADERS, max_size=6))
    if draw(st.booleans()):
        headers += [("X-Many", str(i)) for i in range(draw(st.sampled_from([50, 300])))]
    body = draw(BODIES)
    head = status + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (head + "\r\n").encode("utf-8", "surrogateescape") + body.encode("utf-8")


@pytest.fixture(scope="module")
def raw() -> Iterator[RawServer]:
    s = RawServer()
    yield s
    s.close()


@pytest.fixture(scope="module")
def healthy() -> Iterator[FeedServer]:
    s = FeedServer()
    yield s
    s.close()


COUNTER = itertools.count()


_EXAMPLES = st.lists(responses(), min_size=1, max_size=3)
_SETTINGS = {"deadline": None, "derandomize": True,
             "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}


@settings(max_examples=40, **_SETTINGS)  # type: ignore[arg-type]
@given(hostile=_EXAMPLES)
def test_hostile_responses_never_stop_a_poll(raw: RawServer, healthy: FeedServer, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str],
                                             hostile: list[bytes]) -> None:
    _poll_beside_a_healthy_feed(raw, healthy, tmp_path, capsys, hostile)


@pytest.mark.slow
@settings(max_examples=500, **{**_SETTINGS, "derandomize": False})  # type: ignore[arg-type]
@given(hostile=_EXAMPLES)
def test_hostile_responses_never_stop_a_poll_long(raw: RawServer, healthy: FeedServer,
                                                  tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str],
                                                  hostile: list[bytes]) -> None:
    _poll_beside_a_healthy_feed(raw, healthy, tmp_path, capsys, hostile)


def _poll_beside_a_healthy_feed(raw: RawServer, healthy: FeedServer, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str], hostile: list[bytes]) -> None:
    n = next(COUNTER)
    folder = tmp_path / f"example-{n}"
    folder.mkdir()
    healthy.routes[f"/ok-{n}.xml"] = respond(rss([{"title": f"Healthy item {n}", "guid": f"ok-{n}",
                                                   "link": f"https://example.org/ok/{n}"}]))
    feeds = [{"url": healthy.url(f"/ok-{n}.xml"), "outlet": "Healthy"}]
    for i, response in enumerate(hostile):
        raw.routes[f"/h-{n}-{i}"] = response
        feeds.append({"url": raw.url(f"/h-{n}-{i}"), "outlet": f"Hostile {i}"})
    cfg = write_config(folder, feeds, {"timeout": 3, "parse_timeout": 3})
    for _ in range(2):  # the second poll sends back the validators the first one kept
        code = main(["--config", str(cfg), "poll", "--force"])
        out = capsys.readouterr()
        assert code == 0, out
        assert "Traceback" not in out.err + out.out
    db = sqlite3.connect(folder / "aggregator.db")
    rows = dict(db.execute("SELECT outlet, COALESCE(error_kind, 'ok') FROM feeds "
                           "WHERE last_polled IS NOT NULL").fetchall())
    assert rows.get("Healthy") == "ok"
    assert len(rows) == len(feeds)  # every hostile feed has an outcome
    (stored,) = db.execute("SELECT COUNT(*) FROM articles WHERE title = ?",
                           (f"Healthy item {n}",)).fetchone()
    assert stored == 1
    for (etag, modified) in db.execute("SELECT etag, last_modified FROM feeds"):
        for v in (etag, modified):
            assert v is None or all(" " <= c <= "~" or c == "\t" for c in v)


@pytest.mark.parametrize(("response", "kind"), [
    (b"", "connection_error"),  # the server hangs up without a word: not a timeout
    (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nshort", "bad_response"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\nabcde", "bad_response"),
    (b"SPDY/3 200 OK\r\n\r\n", "bad_response"),
    (b"HTTP/1.1 301 Moved\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n", "bad_url"),
])
def test_failures_are_named_for_what_happened(raw: RawServer, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              response: bytes, kind: str) -> None:
    path = f"/kind-{next(COUNTER)}"
    raw.routes[path] = response
    cfg = write_config(tmp_path, [{"url": raw.url(path), "outlet": "One"}], {"timeout": 3})
    assert main(["--config", str(cfg), "poll"]) == 3  # its only feed failed
    capsys.readouterr()
    db = sqlite3.connect(tmp_path / "aggregator.db")
    assert db.execute("SELECT error_kind FROM feeds").fetchone() == (kind,)
