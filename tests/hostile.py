"""Hostile HTTP behaviours and feed bodies for the poller's fleet test."""

from __future__ import annotations

import gzip
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

from conftest import Behaviour, respond, rss

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<rss version="2.0"><channel><title>lol</title><item><title>&lol9;</title>
<link>https://example.org/lol</link></item></channel></rss>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>xxe</title><item><title>leak &xxe;</title>
<link>https://example.org/xxe</link><guid>xxe-1</guid></item></channel></rss>"""


def stall(seconds: float = 60) -> Behaviour:
    def fn(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)

    return fn


def drip(interval: float = 0.25) -> Behaviour:
    def fn(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(100000):
            h.wfile.write(b"<")
            h.wfile.flush()
            time.sleep(interval)

    return fn


def endless(chunk: int = 65536) -> Behaviour:
    """A body with no length that never ends (until the client stops reading)."""

    def fn(h: BaseHTTPRequestHandler) -> None:
        h.protocol_version = "HTTP/1.0"
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Connection", "close")
        h.end_headers()
        block = b"<item><title>x</title></item>" * (chunk // 29)
        for _ in range(100000):
            h.wfile.write(block)

    return fn


def gzip_bomb(decoded_mb: int = 200) -> Behaviour:
    payload = gzip.compress(b"\0" * (decoded_mb * 1024 * 1024), compresslevel=9)

    def fn(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/rss+xml")
        h.send_header("Content-Encoding", "gzip")
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    return fn


def redirect(location: str | Callable[[], str], status: int = 302) -> Behaviour:
    def fn(h: BaseHTTPRequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location() if callable(location) else location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return fn


def status(code: int, headers: dict[str, str] | None = None) -> Behaviour:
    return respond(b"error", status=code, content_type="text/plain", headers=headers,
                   conditional=False)


def changing_guids() -> Behaviour:
    counter = {"n": 0}

    def fn(h: BaseHTTPRequestHandler) -> None:
        counter["n"] += 1
        body = rss([{"title": "Same story, new GUID each time", "link": "https://example.org/s",
                     "guid": f"guid-{counter['n']}", "description": "Stable text."}])
        respond(body, conditional=False)(h)

    return fn


def huge_feed(items: int = 100_000) -> bytes:
    return rss([{"title": f"t{i}", "guid": f"g{i}"} for i in range(items)])
