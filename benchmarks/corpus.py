"""A synthetic news stream: Zipf-distributed vocabulary, stories told by several outlets."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SYLLABLES = ["ka", "ro", "mi", "ten", "sa", "lo", "ver", "an", "del", "to", "pri", "mar", "gen",
             "ul", "bra", "ce", "din", "fo", "har", "is", "jun", "kel", "lum", "nor", "ost", "pe"]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


@dataclass(frozen=True)
class Item:
    outlet: int
    key: str
    title: str
    text: str
    published: datetime


def stream(n: int, words: int, start: datetime, per_day: int, seed: int = 1,
           outlets: int = 20) -> Iterator[Item]:
    """``n`` articles of about ``words`` words; each story is told by 2-6 outlets."""
    rng = random.Random(seed)
    vocab = vocabulary(30_000, random.Random(0))
    weights = [1.0 / (r + 10) for r in range(len(vocab))]
    cum: list[float] = []
    total = 0.0
    for w in weights:
        total += w
        cum.append(total)
    step = timedelta(seconds=86_400 / per_day)
    i = 0
    story = 0
    while i < n:
        story += 1
        keys = rng.sample(vocab[2000:], 12)
        names = [rng.choice(vocab[3000:]).capitalize() for _ in range(2)]
        for outlet in rng.sample(range(outlets), rng.randint(2, 6)):
            if i >= n:
                break
            general = rng.choices(vocab, cum_weights=cum, k=int(words * 0.8))
            specific = [rng.choice(keys) for _ in range(words - len(general))]
            body = general + specific
            rng.shuffle(body)
            title = " ".join([names[0], *rng.sample(keys, 4), *rng.choices(vocab[:500], k=3)])
            text = f"{names[0]} and {names[1]} " + " ".join(body) + "."
            yield Item(outlet, f"s{seed}-{story}-{outlet}", title.capitalize(), text,
                       start + step * i)
            i += 1


T0 = datetime(2026, 1, 1, tzinfo=UTC)
