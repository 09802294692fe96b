"""Sanitising HTML and reading text out of it."""

from __future__ import annotations

from aggregator.ingest.sanitize import clean_html, to_text


def test_sanitiser_removes_active_content_and_is_idempotent() -> None:
    dirty = ('<p onclick="x()">Hi<script>alert(1)</script><a href="javascript:alert(1)">j</a>'
             '<a href="https://ok.example/">ok</a><form><input type="password"></form>'
             '<svg><a xlink:href="javascript:alert(1)">s</a></svg><iframe src="x"></iframe></p>')
    clean = clean_html(dirty)
    for bad in ("script", "onclick", "javascript", "form", "input", "svg", "iframe"):
        assert bad not in clean.lower()
    assert 'href="https://ok.example/"' in clean
    assert clean_html(clean) == clean


def test_to_text() -> None:
    assert to_text("<p>A &amp; B</p><p>C<br>D</p><script>x</script>") == "A & B\nC\nD"


def test_a_message_is_one_plain_line_without_controls() -> None:
    from aggregator.ingest.sanitize import plain_line

    assert plain_line("Bad\x1b[31m status\r\nline <rss> &amp;\u202e\u200b x") == (
        "Bad[31m status line <rss> &amp; x")
