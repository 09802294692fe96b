"""The stored term-vector format."""

from __future__ import annotations

import json

import pytest

from aggregator.store import vectors


def test_stored_vectors_round_trip_and_older_json_ones_still_read() -> None:
    # Terms are made by the tokeniser from hostile text: quotes, escapes, any script.
    vec = {'say "hi"': 0.123456789, "back\\slash": 1e-07, "ünï©ødé 東京": 0.5, "</script>": 0.0,
           "#name": 0.000015, "@2024": 0.0}
    stored = vectors.dumps(vec)
    back = vectors.loads(stored)
    assert list(back) == list(vec)  # in order
    assert back == pytest.approx(vec, rel=1e-7)
    assert vectors.loads(vectors.dumps({})) == {}
    with pytest.raises(ValueError, match="line break"):
        vectors.dumps({"two\nlines": 1.0})
    # Vectors that earlier versions stored as JSON text are read as they were written.
    assert vectors.loads(json.dumps({"quake": 0.12346, "#chile": 0.5})) == {"quake": 0.12346, "#chile": 0.5}
