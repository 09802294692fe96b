"""OPML import and export of the feed list, with outlet metadata as extra attributes.

An import validates every outline with feeds.toml's own rules before anything is written, and
the new feeds.toml is checked whole and then replaces the old one in one rename: a refused
outline is reported, never written.
"""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregator.config import config_from_text, feed_entry, load_config
from aggregator.errors import ConfigError
from aggregator.model import FeedConfig

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


def outlines(data: bytes, source: str) -> list[dict[str, Any]]:
    """The feeds of an OPML document as feeds.toml entries, unchecked (every outline with an
    xmlUrl, in document order). The document's own encoding declaration is honoured."""
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, ValueError, LookupError) as e:
        raise ConfigError(f"{source}: not valid OPML: {e}") from e
    found = []
    for o in root.iter("outline"):
        url = o.get("xmlUrl")
        if url is None:
            continue
        entry: dict[str, Any] = {
            "url": url.strip(),
            "outlet": (o.get("text") or o.get("title") or url).strip(),
        }
        for key in _META:
            if o.get(key) is not None:
                entry[key] = o.get(key)
        fulltext = o.get("fulltext")
        if fulltext is not None:
            entry["fulltext"] = {"true": True, "false": False}.get(fulltext.strip(), fulltext)
        interval = o.get("interval")
        if interval is not None:
            text = interval.strip()
            entry["interval"] = int(text) if text.isascii() and text.isdigit() else text
        found.append(entry)
    return found


@dataclass(frozen=True)
class Imported:
    added: tuple[FeedConfig, ...]
    already: int  # feeds the config (or an earlier outline) had
    refused: tuple[str, ...]  # one line each: the outline and why


def import_file(config_file: Path, opml_file: Path) -> Imported:
    """Append the valid, new feeds of ``opml_file`` to ``config_file`` (created if missing)."""
    try:
        data = opml_file.read_bytes()
    except OSError as e:
        raise ConfigError(f"{opml_file}: cannot read: {e.strerror or e}") from e
    existing = {f.url for f in load_config(config_file).feeds} if config_file.exists() else set()
    added: list[FeedConfig] = []
    refused: list[str] = []
    already = 0
    for i, entry in enumerate(outlines(data, str(opml_file)), start=1):
        try:
            feed = feed_entry(entry, f"{opml_file}: outline {i}")
        except ConfigError as e:
            refused.append(str(e))
            continue
        if feed.url in existing:
            already += 1
            continue
        existing.add(feed.url)
        added.append(feed)
    if added:
        _append(config_file, to_toml(added))
    return Imported(tuple(added), already, tuple(refused))


def _append(config_file: Path, entries: str) -> None:
    """feeds.toml with ``entries`` appended, checked whole, then swapped in with one rename."""
    old = config_file.read_text(encoding="utf-8") if config_file.exists() else ""
    new = old + ("\n" if old and not old.endswith("\n") else "") + "\n" + entries
    config_from_text(new, config_file)  # the whole file, as the next command reads it
    folder = config_file.resolve().parent
    fd, tmp = tempfile.mkstemp(prefix=f".{config_file.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new)
        if config_file.exists():
            os.chmod(tmp, config_file.stat().st_mode & 0o7777)
        os.replace(tmp, config_file)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    """A TOML basic string (JSON's escapes are TOML's)."""
    return json.dumps(s, ensure_ascii=False)
