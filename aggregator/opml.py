"""OPML import and export of the feed list, with outlet metadata as extra attributes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from .errors import ConfigError
from .model import FeedConfig

_META = ("language", "country", "owner", "role")


def export(feeds: Sequence[FeedConfig], title: str = "aggregator feeds") -> str:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    body = ET.SubElement(root, "body")
    for f in feeds:
        attrs = {"type": "rss", "text": f.outlet, "title": f.outlet, "xmlUrl": f.url}
        for key in _META:
            value = getattr(f, key)
            if value:
                attrs[key] = value
        if f.fulltext:
            attrs["fulltext"] = "true"
        if f.interval:
            attrs["interval"] = str(f.interval)
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def parse(text: str, source: str) -> list[FeedConfig]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise ConfigError(f"{source}: not valid OPML: {e}") from e
    feeds = []
    for i, o in enumerate(root.iter("outline"), start=1):
        url = o.get("xmlUrl")
        if not url:
            continue
        outlet = o.get("text") or o.get("title") or url
        interval = o.get("interval")
        try:
            feeds.append(
                FeedConfig(
                    url=url.strip(),
                    outlet=outlet.strip(),
                    language=o.get("language"),
                    country=o.get("country"),
                    owner=o.get("owner"),
                    role=o.get("role"),
                    fulltext=o.get("fulltext") == "true",
                    interval=int(interval) if interval else None,
                )
            )
        except ValueError as e:
            raise ConfigError(f"{source}: outline {i} ({outlet}): key 'interval': {e}") from e
    return feeds


def to_toml(feeds: Sequence[FeedConfig]) -> str:
    """``[[feeds]]`` entries for appending to feeds.toml."""
    out = []
    for f in feeds:
        out.append("[[feeds]]")
        out.append(f"url = {_q(f.url)}")
        out.append(f"outlet = {_q(f.outlet)}")
        for key in _META:
            value = getattr(f, key)
            if value:
                out.append(f"{key} = {_q(value)}")
        if f.fulltext:
            out.append("fulltext = true")
        if f.interval:
            out.append(f"interval = {f.interval}")
        out.append("")
    return "\n".join(out)


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
