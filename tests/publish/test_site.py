"""The static site: golden pages, hostile content, atomic publishing, and a real browser."""

from __future__ import annotations

import os
import re
import shutil
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from conftest import DATA, FeedServer
from sitefixture import build_fixture_db

from aggregator.cli import main
from aggregator.publish.ranking import current_stories
from aggregator.publish.site import build_site, pages
from aggregator.store import open_db
from aggregator.store.feeds import health
from aggregator.store.listing import newest_time

GOLDEN = DATA / "golden"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FORBIDDEN = {"script", "form", "iframe", "object", "embed", "base", "svg", "math", "input"}


class Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.links: list[str] = []
        self.h1 = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN:
            self.problems.append(f"<{tag}>")
        if tag == "h1":
            self.h1 += 1
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{tag}[{name}]")
            if name in ("href", "src", "action", "xlink:href", "formaction") and value is not None:
                scheme = urlsplit(value.strip()).scheme.lower()
                if scheme not in ("", "http", "https"):
                    self.problems.append(f"{tag}[{name}={value}]")
                if name == "href":
                    self.links.append(value)
            if tag == "meta" and name == "http-equiv" and (value or "").lower() == "refresh":
                self.problems.append("meta refresh")
        if tag == "a" and dict(attrs).get("href", "").startswith("http"):
            rel = dict(attrs).get("rel") or ""
            if "noopener" not in rel or "noreferrer" not in rel:
                self.problems.append(f"outbound link without rel: {attrs}")


@pytest.fixture
def site_config(server: FeedServer, tmp_path: Path):  # type: ignore[no-untyped-def]
    return build_fixture_db(server, tmp_path)


def _pages(cfg):  # type: ignore[no-untyped-def]
    db = open_db(cfg.settings.database)
    stories = current_stories(db)
    feeds = health(db, [f.url for f in cfg.feeds])
    ref = newest_time(db)
    db.close()
    return pages(cfg, stories, feeds, "2026-11-02T00:00:00Z", ref)


def test_hostile_content_never_reaches_the_pages(site_config) -> None:  # type: ignore[no-untyped-def]
    site = _pages(site_config)
    assert any("Harbour bridge closure" in c for c in site.files.values())
    for name, content in site.files.items():
        if name.endswith(".html"):
            audit = Audit()
            audit.feed(content)
            assert audit.problems == [], (name, audit.problems[:5])
            assert audit.h1 == 1, name
            assert "Content-Security-Policy" in content and "default-src 'none'" in content
            assert 'name="referrer" content="no-referrer"' in content
        assert "javascript:alert" not in content
    assert "<script>" not in site.files["stories.atom"]


def test_golden_pages(site_config) -> None:  # type: ignore[no-untyped-def]
    site = _pages(site_config)
    port = urlsplit(site_config.feeds[0].url).port
    wanted = ["index.html", "outlets.html", "stories.json", "stories.atom"]
    story = next(n for n, c in site.files.items() if n.startswith("story/") and "Rotterdam" in c)
    # Story ids derive from feed URLs, which carry the test server's port: number them instead.
    ids: dict[str, str] = {}

    def norm(text: str) -> str:
        text = text.replace(str(port), "PORT")
        return re.sub(r"\bs[0-9a-f]{12}\b", lambda m: ids.setdefault(m.group(), f"STORY{len(ids)}"), text)

    normal = {n: norm(site.files[n]) for n in wanted}
    normal["story-rotterdam.html"] = norm(site.files[story])
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.mkdir(parents=True, exist_ok=True)
        for n, c in normal.items():
            (GOLDEN / n).write_text(c, encoding="utf-8")
    for n, c in normal.items():
        assert c == (GOLDEN / n).read_text(encoding="utf-8"), f"{n} differs from tests/data/golden"


def test_build_is_atomic_and_reproducible(site_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "public"
    build_site(site_config, out)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    build_site(site_config, out)
    second = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert out.is_symlink()
    assert first.keys() == second.keys()
    differ = [p for p in first if first[p] != second[p]]
    assert differ in ([], [Path("index.html")])  # only the build stamp may change
    assert any(p.parts[0] == "archive" for p in first)
    builds = list((tmp_path / ".public-builds").iterdir())
    assert len(builds) <= 3


def test_build_cli(site_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["--config", site_config.path, "build", "--out", str(tmp_path / "cli-site")]) == 0
    assert "site built in" in capsys.readouterr().out
    assert (tmp_path / "cli-site" / "index.html").exists()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian package chromium not installed (.ci/run installs it)")
def test_site_in_headless_chromium(site_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    out = build_site(site_config, tmp_path / "www")
    root = out.resolve()

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):  # type: ignore[no-untyped-def]
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    problems: list[str] = []
    dialogs: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            blocked_external: list[str] = []
            page.route("**/*", lambda route: (route.continue_() if route.request.url.startswith(base)
                                              else (blocked_external.append(route.request.url), route.abort())))
            page.goto(base + "index.html")
            assert page.locator("h1").count() == 1
            page.screenshot(path=str(ARTIFACTS / "front-page.png"), full_page=True)
            seen: set[str] = set()
            todo = [base + "index.html"]
            while todo:
                url = todo.pop()
                if url in seen:
                    continue
                seen.add(url)
                resp = page.goto(url)
                assert resp is not None and resp.status == 200, url
                for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
                    target = urljoin(url, href).split("#")[0]
                    if target.startswith(base) and target not in seen:
                        todo.append(target)
            assert any("/story/" in u for u in seen) and any("/archive/" in u for u in seen)
            page.goto(base + "index.html")
            page.click("article.story h2 a")
            page.wait_for_load_state()
            assert "/story/" in page.url
            page.screenshot(path=str(ARTIFACTS / "story-page.png"), full_page=True)
            page.goto(base + "archive/index.html")
            page.click("ul.days a")
            assert "/archive/" in page.url
            browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert dialogs == []
    assert problems == [], problems
    assert blocked_external == []
