"""URL canonicalisation. Pure functions."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Query parameters that identify a campaign or a click, not a document.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gclsrc",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "yclid",
        "_ga",
        "_gl",
        "ocid",
        "cmpid",
        "smid",
        "ref_src",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "at_medium",
        "at_campaign",
        "xtor",
        "__twitter_impression",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "at_")
_CONTROLS = {c: None for c in [*range(32), 127]}


def is_http(url: str | None) -> bool:
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def host(url: str) -> str:
    """The host ``url`` names, lower-case; '' if it names none (or is no URL)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def canonical(url: str | None, base: str | None = None) -> str | None:
    """Absolute http(s) URL without tracking parameters or fragment; None if not http(s)."""
    if not url:
        return None
    # Control characters never belong in a URL; spaces are percent-encoded.
    url = url.strip().translate(_CONTROLS).replace(" ", "%20")
    try:
        if base:
            url = urljoin(base, url)
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        query = [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
        ]
        netloc = parts.netloc.lower()
        if netloc.endswith(":80") and parts.scheme == "http":
            netloc = netloc[:-3]
        if netloc.endswith(":443") and parts.scheme == "https":
            netloc = netloc[:-4]
        return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", urlencode(query), ""))
    except ValueError:
        return None
