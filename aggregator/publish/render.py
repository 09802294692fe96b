"""HTML, Atom and JSON Feed rendering with jinja2: the only module that imports jinja2.

Autoescape is on for every template; the only markup that reaches a page is built here from
escaped text. Links pass ``safe_url`` (http/https only) before they reach an ``href``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from importlib.resources import files
from typing import Any

import jinja2
from markupsafe import Markup, escape

from aggregator import urls

# The built-in templates: the repository's templates/ folder, shipped as a package.
BUILTIN = "aggregator.templates"


def builtin(name: str) -> str:
    """The text of a built-in template or file (style.css)."""
    return files(BUILTIN).joinpath(name).read_text(encoding="utf-8")


def _load_builtin(name: str) -> tuple[str, None, Callable[[], bool]] | None:
    try:
        return builtin(name), None, lambda: True
    except (FileNotFoundError, IsADirectoryError):
        return None


def safe_url(value: str | None) -> str | None:
    return value if urls.is_http(value) else None


def diff_words(title: str, reference: str) -> Markup:
    """``title`` with the words that are not in ``reference`` wrapped in <mark>."""
    ref = {w.casefold() for w in re.findall(r"\w+", reference)}
    parts = []
    for token in re.split(r"(\W+)", title):
        if token and re.match(r"\w", token) and token.casefold() not in ref:
            parts.append(Markup("<mark>{}</mark>").format(token))
        else:
            parts.append(escape(token))
    return Markup("").join(parts)


def story_html(story: Any) -> str:
    """A story's members as an HTML list, returned as plain text: in an Atom feed's
    ``<content type="html">`` autoescape then escapes the markup exactly once (RFC 4287 3.1.1.2),
    and every title and outlet inside it was escaped before (``{% filter escape %}`` does
    nothing under autoescape, and let raw elements into the feed)."""
    items = []
    for m in story.members:
        href = safe_url(m.url)
        title = Markup('<a href="{}">{}</a>').format(href, m.title) if href else escape(m.title)
        items.append(Markup("<li>{}: {}</li>").format(m.outlet, title))
    return str(Markup("<ul>{}</ul>").format(Markup("").join(items)))


def environment(template_dir: str | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if template_dir:  # the user's own templates first, by name
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(jinja2.FunctionLoader(_load_builtin))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # Every markup template (.html, .atom) escapes; plain-text ones (.txt) are not HTML.
        autoescape=jinja2.select_autoescape(disabled_extensions=("txt",), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters["safe_url"] = safe_url
    env.filters["diff_words"] = diff_words
    env.filters["story_html"] = story_html
    env.filters["hhmm"] = lambda s: (s or "")[11:16]
    env.filters["day"] = lambda s: (s or "")[:10]
    env.filters["when"] = lambda s: (s or "")[:16].replace("T", " ") + " UTC" if s else "undated"
    return env


def render(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateError as e:
        from aggregator.errors import AggregatorError

        raise AggregatorError(f"template {name}: {e}") from e


def json_feed(feed: Mapping[str, Any]) -> str:
    return json.dumps(feed, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
