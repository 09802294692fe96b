"""Rebuild aggregator/demo_data from replay captures (shared/data/feeds/replay).

Keeps only each item's title, lead (description as plain text, cut to 400 characters), date,
link and GUID, so the bundled sample stays a small attributed excerpt.
Usage: python scripts/make_demo_data.py REPLAY_DAY_DIR
"""

from __future__ import annotations

import html
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape

OUTLETS = {
    "ft-home.xml": "Financial Times", "economist.xml": "The Economist",
    "wsj_world.xml": "WSJ World News", "wsj_econ.xml": "WSJ Economy", "nyt_econ.xml": "NYT Economy",
}
LEAD = 400


def text(el: ET.Element | None) -> str:
    if el is None or el.text is None:
        return ""
    plain = re.sub(r"<[^>]+>", " ", html.unescape(el.text))
    return " ".join(plain.split())


def convert(src: Path, outlet: str) -> str:
    root = ET.parse(src).getroot()
    items = []
    for it in root.iter("item"):
        link = text(it.find("link")).removeprefix("https://archive.is/newest/")
        items.append(
            "<item>"
            f"<title>{escape(text(it.find('title')))}</title>"
            f"<link>{escape(link)}</link>"
            f"<guid isPermaLink=\"false\">{escape(text(it.find('guid')) or link)}</guid>"
            f"<pubDate>{escape(text(it.find('pubDate')))}</pubDate>"
            f"<description>{escape(text(it.find('description'))[:LEAD])}</description>"
            "</item>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>{escape(outlet)}</title><link>https://example.invalid/</link>"
            f"<description>Excerpt of {escape(outlet)}'s feed</description>\n"
            + "\n".join(items) + "\n</channel></rss>\n")


def main(day: Path) -> None:
    out = Path(__file__).resolve().parent.parent / "aggregator" / "demo_data" / day.name
    for snap in sorted(p for p in day.iterdir() if p.is_dir()):
        target = out / snap.name
        target.mkdir(parents=True, exist_ok=True)
        for name, outlet in OUTLETS.items():
            if (snap / name).exists():
                (target / name).write_text(convert(snap / name, outlet), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
