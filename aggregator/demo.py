"""`aggregator demo`: the whole pipeline offline on a bundled sample of real feeds.

Serves the sample's snapshots (five outlets captured at the same moments, four times in one day)
from a loopback HTTP server that answers conditional requests, polls them in order as the day's
successive polls, clusters, builds the site and lists the top stories. Everything it makes goes
under one output folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from aggregator.config import load_config
from aggregator.errors import AggregatorError
from aggregator.ingest.poll import PollOptions, poll
from aggregator.matching.clusterer import Clusterer
from aggregator.model import StoryQuery
from aggregator.publish.ranking import current_stories
from aggregator.publish.site import build_site
from aggregator.publish.terminal import format_story
from aggregator.store import open_db
from aggregator.store.clustering import ClusterState

DATA = Path(__file__).resolve().parent / "demo_data"
DEMO_DAY = "2025-11-05"
OUTLETS = {
    "ft-home.xml": ("Financial Times", "GB", "Nikkei", "national"),
    "economist.xml": ("The Economist", "GB", "The Economist Group", "magazine"),
    "wsj_world.xml": ("WSJ World News", "US", "News Corp", "national"),
    "wsj_econ.xml": ("WSJ Economy", "US", "News Corp", "business"),
    "nyt_econ.xml": ("NYT Economy", "US", "The New York Times Company", "national"),
}


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops connections under a concurrent poll
    daemon_threads = True


class SnapshotServer:
    """A loopback HTTP server whose files can be swapped between polls; honours ETags."""

    def __init__(self, port: int = 0) -> None:
        self.files: dict[str, tuple[bytes, str, str]] = {}
        self.requests = 0
        self.not_modified = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                entry = server.files.get(self.path)
                if entry is None:
                    self.send_error(404)
                    return
                body, etag, modified = entry
                if self.headers.get("If-None-Match") == etag:
                    server.not_modified += 1
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", modified)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.httpd = _Server(("127.0.0.1", port), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> SnapshotServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def load(self, folder: Path, moment: datetime) -> None:
        for f in folder.glob("*.xml"):
            body = f.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            self.files["/" + f.name] = (body, etag, format_datetime(moment, usegmt=True))


# The first line of a feeds.toml the demo wrote: a demo folder is resumed, anything else refused.
MARKER = "# Written by `aggregator demo`: the bundled sample served from 127.0.0.1."


def write_config(out: Path, port: int) -> Path:
    lines = [
        MARKER,
        "[settings]",
        'database = "aggregator.db"',
        'site_dir = "site"',
        'mail_dir = "mail"',
        'allowed_private_networks = ["127.0.0.1/32"]',
        'site_title = "aggregator demo"',
        "timeout = 20",
        "",
        "[email]",
        'sender = "demo@localhost"',
        'recipients = ["reader@localhost"]',
        "",
    ]
    for name, (outlet, country, owner, role) in OUTLETS.items():
        lines += [
            "[[feeds]]",
            f'url = "http://127.0.0.1:{port}/{name}"',
            f'outlet = "{outlet}"',
            'language = "en"',
            f'country = "{country}"',
            f'owner = "{owner}"',
            f'role = "{role}"',
            "",
        ]
    path = out / "feeds.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _moment(name: str) -> datetime:
    return datetime.strptime(name, "%Y-%m-%dT%H%M%SZ").replace(tzinfo=UTC)


def earlier_port(out: Path) -> int:
    """The port of the demo already in ``out`` (0 for a new folder): its feeds are known by
    their URLs, so a demo run again in the same folder serves them at the same address and
    stores nothing twice. A folder holding another feeds.toml is refused."""
    config = out / "feeds.toml"
    if not config.exists():
        return 0
    text = config.read_text(encoding="utf-8", errors="replace")
    if not text.startswith(MARKER):
        raise AggregatorError(
            f"{config} exists and was not written by `aggregator demo`; choose another --out"
        )
    ports = {urlsplit(f.url).port or 0 for f in load_config(config).feeds}
    return ports.pop() if len(ports) == 1 else 0


def _server(out: Path) -> SnapshotServer:
    port = earlier_port(out)
    try:
        return SnapshotServer(port)
    except OSError as e:
        raise AggregatorError(
            f"{out} holds a demo served on 127.0.0.1:{port}, which is now in use ({e.strerror}); "
            "run the demo again later, or with another --out"
        ) from e


def run_demo(out: Path | None = None, day: str = DEMO_DAY, top: int = 5) -> Iterator[str]:
    out = (out or Path(tempfile.mkdtemp(prefix="aggregator-demo-"))).absolute()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise AggregatorError(f"{out}: cannot create the demo folder: {e.strerror or e}") from e
    snapshots = sorted(p for p in (DATA / day).iterdir() if p.is_dir())
    yield f"demo: {len(OUTLETS)} outlets, {len(snapshots)} captures of {day}, output in {out}"
    with _server(out) as server:
        config = load_config(write_config(out, server.port))
        db = open_db(config.settings.database)
        try:
            for snap in snapshots:
                moment = _moment(snap.name)
                server.load(snap, moment)
                report = asyncio.run(poll(db, config, PollOptions(force=True)))
                clustered = Clusterer(ClusterState(db), config.settings.window_hours).run()
                yield (
                    f"poll {snap.name}: {report.ok} feeds ok, {report.failed} failed, "
                    f"{sum(1 for o in report.outcomes if o.not_modified)} not modified, "
                    f"{report.new_articles} new articles; {clustered.new_stories} new stories, "
                    f"{clustered.updated_stories} updated"
                )
            stories = current_stories(db, StoryQuery(min_outlets=2))
        finally:
            db.close()
        yield (
            f"server: {server.requests} requests, {server.not_modified} answered 304 Not Modified"
        )
    site = build_site(config)
    yield f"site: {site / 'index.html'}"
    yield f"config: {config.path}  (try: aggregator --config {config.path} clusters)"
    yield ""
    now = datetime.now(UTC)
    # The stories told by the most outlets: what the product is for.
    widest = sorted(stories, key=lambda s: (-len(s.outlets), -s.rank, s.id))
    for i, s in enumerate(widest[:top], start=1):
        yield format_story(i, s, now)
        yield ""
