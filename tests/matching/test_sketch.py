"""MinHash signatures and the LSH indexes (matching/sketch.py, minhash.py), checked against datasketch."""

from __future__ import annotations

import random
import subprocess
import sys
import zlib

import datasketch
import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH

from aggregator.matching import minhash, sketch


def _terms(rng: random.Random, vocabulary: list[str]) -> list[str]:
    return rng.sample(vocabulary, rng.randint(1, 40))


def test_story_index_matches_minhash_lsh_with_one_row_bands() -> None:
    rng = random.Random(7)
    vocabulary = [f"term{i}" for i in range(600)]
    sigs = {i: sketch.signature(_terms(rng, vocabulary), sketch.STORY_PERMS) for i in range(400)}
    ours = sketch.story_index()
    reference = MinHashLSH(num_perm=sketch.STORY_PERMS, params=(sketch.STORY_PERMS, 1))

    for i, sig in sigs.items():
        ours.add(i, sig)
        reference.insert(i, _lean(sig))
    for i in range(0, 400, 3):  # evicted articles leave both indexes
        ours.remove(i)
        reference.remove(i)
    assert len(ours) == 400 - len(range(0, 400, 3))
    found_any = 0
    for sig in sigs.values():
        expected = sorted(reference.query(_lean(sig)))
        assert ours.query(sig) == expected
        found_any += bool(expected)
    assert found_any > 300  # the comparison is not between empty results


@pytest.mark.parametrize("segment_articles", [None, 7])
def test_a_story_lookup_counts_the_values_each_member_shares(
    segment_articles: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one row per band, the bands a member shares with a signature are the values the
    two signatures agree on: the window ranks a story's candidates by them, as by the
    estimated Jaccard of the two signatures (which the window no longer holds)."""
    if segment_articles is not None:  # also across segments, settled as they fill
        monkeypatch.setattr(sketch, "SEGMENT_ENTRIES", segment_articles * sketch.STORY_PERMS)
    rng = random.Random(9)
    vocabulary = [f"term{i}" for i in range(80)]  # few terms: many partial agreements
    sigs = {i: sketch.signature(_terms(rng, vocabulary), sketch.STORY_PERMS) for i in range(60)}
    ours = sketch.story_index()
    for i, sig in sigs.items():
        ours.add(i, sig)
    ours.remove(3)
    counted = ours.query_counted(list(sigs.values()))
    shares = set()
    for sig, (found, bands) in zip(sigs.values(), counted, strict=True):
        expected = {i: round(float(sketch.jaccards(sig, [other])[0]) * sketch.STORY_PERMS)
                    for i, other in sigs.items() if i != 3}
        assert dict(zip(found.tolist(), bands.tolist(), strict=True)) == {
            i: n for i, n in expected.items() if n}
        shares |= set(bands.tolist())
    assert len(shares) > 10  # members sharing many different numbers of values


@pytest.mark.parametrize("segment_articles", [None, 5])
def test_story_index_matches_minhash_lsh_through_interleaved_changes(
    segment_articles: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Additions and removals are applied lazily; in any interleaving with queries the answers
    stay those of MinHashLSH (an article removed and added again, removed before any query),
    also with the entries in segments of a few articles each, merged and emptied as they go,
    and looked up a few signatures at a time."""
    if segment_articles is not None:
        monkeypatch.setattr(sketch, "SEGMENT_ENTRIES", segment_articles * sketch.STORY_PERMS)
        monkeypatch.setattr(sketch, "QUERY_CHUNK", 7)
    rng = random.Random(8)
    vocabulary = [f"term{i}" for i in range(300)]
    ours = sketch.story_index()
    reference = MinHashLSH(num_perm=sketch.STORY_PERMS, params=(sketch.STORY_PERMS, 1))
    sigs: dict[int, bytes] = {}
    members: set[int] = set()
    answered = 0
    for _ in range(1500):
        op, key = rng.random(), rng.randrange(120)
        if op < 0.5:
            sigs.setdefault(key, sketch.signature(_terms(rng, vocabulary), sketch.STORY_PERMS))
            if key not in members:
                ours.add(key, sigs[key])
                reference.insert(key, _lean(sigs[key]))
                members.add(key)
        elif op < 0.8:
            if key in members:
                ours.remove(key)
                reference.remove(key)
                members.discard(key)
        else:
            probe = sketch.signature(_terms(rng, vocabulary), sketch.STORY_PERMS)
            expected = sorted(reference.query(_lean(probe)))
            assert ours.query(probe) == expected
            answered += bool(expected)
    probes = [sketch.signature(_terms(rng, vocabulary), sketch.STORY_PERMS) for _ in range(30)]
    assert [f.tolist() for f in ours.query_many(probes)] == [
        sorted(reference.query(_lean(p))) for p in probes
    ]
    assert len(ours) == len(members) and all(k in ours for k in members)
    assert answered > 100  # the comparison is not between empty results
    if segment_articles is not None:  # the entries did lie in several segments
        assert len(ours._segments) > 1


def test_copy_index_matches_minhash_lsh_with_its_bands() -> None:
    """Texts and edited versions of them (Jaccard 0.3-0.9 with their source): the copy index's
    bands of four rows hashed to one key find what MinHashLSH finds, through removals too."""
    rng = np.random.default_rng(9)
    bands, rows = sketch.COPY_BANDS
    sources = [rng.choice(2**32, 300, replace=False).astype(np.uint32) for _ in range(60)]
    texts = list(sources)
    for src in sources:
        for kept in (0.4, 0.6, 0.8, 0.95):
            fresh = rng.choice(2**32, int(300 * (1 - kept)), replace=False).astype(np.uint32)
            texts.append(np.concatenate((src[: int(300 * kept)], fresh)))
    sigs = {i: _copy_sig(np.unique(t)) for i, t in enumerate(texts)}
    ours = sketch.copy_index()
    reference = MinHashLSH(num_perm=sketch.COPY_PERMS, params=(bands, rows))
    for i, sig in sigs.items():
        ours.add(i, sig)
        reference.insert(i, _lean(sig))
    for i in range(0, len(sigs), 7):
        ours.remove(i)
        reference.remove(i)
    expected = [sorted(reference.query(_lean(sig))) for sig in sigs.values()]
    assert [f.tolist() for f in ours.query_many(list(sigs.values()))] == expected
    assert sum(len(e) > 1 for e in expected) > 150  # most texts find their versions


def _copy_sig(hashes: np.ndarray) -> bytes:
    """A copy signature of a set already hashed, as extraction makes it."""
    return minhash.of_hashed([hashes], sketch.permutations(sketch.COPY_PERMS))[0]


def _lean(sig: bytes) -> LeanMinHash:
    values = np.frombuffer(sig, dtype="<u4").astype(np.uint64)
    return LeanMinHash(seed=sketch.SEED, hashvalues=values, scheme=sketch.SCHEME)


def test_signatures_are_stable_bytes() -> None:
    a = sketch.signature(["storm", "flood", "river"], sketch.STORY_PERMS)
    assert a == sketch.signature(["river", "storm", "flood"], sketch.STORY_PERMS)
    assert len(a) == 4 * sketch.STORY_PERMS
    assert sketch.jaccards(a, [a]).tolist() == [1.0]
    b = sketch.signature(["election", "senate"], sketch.STORY_PERMS)
    assert sketch.jaccards(a, [b])[0] < 0.2


def test_batched_signatures_equal_datasketch_minhash() -> None:
    """Signatures are computed for a whole batch in numpy; they must be the bytes datasketch's
    own MinHash gives (same permutations, same affine32 scheme), empty sets included."""
    rng = random.Random(11)
    sets = [[f"w{rng.randint(0, 3000)}" for _ in range(rng.randint(0, 80))] for _ in range(200)]
    sets[7] = []
    ours = sketch.signatures(sets, sketch.STORY_PERMS)
    hashed = [
        np.unique(
            np.array([rng.getrandbits(32) for _ in range(rng.randint(0, 700))], dtype=np.uint32)
        )
        for _ in range(50)
    ]
    hashed[3] = np.zeros(0, dtype=np.uint32)
    ours_hashed = minhash.of_hashed(hashed, sketch.permutations(sketch.COPY_PERMS))
    for s, sig in zip(sets, ours, strict=True):
        m = MinHash(
            num_perm=sketch.STORY_PERMS,
            seed=sketch.SEED,
            scheme=sketch.SCHEME,
            hashfunc=lambda b: zlib.crc32(b),
        )
        m.update_batch([t.encode("utf-8") for t in s])
        assert sig == m.hashvalues.astype("<u4").tobytes()
    for h, sig in zip(hashed, ours_hashed, strict=True):
        m = MinHash(
            num_perm=sketch.COPY_PERMS, seed=sketch.SEED, scheme=sketch.SCHEME, hashfunc=lambda x: x
        )
        m.update_batch(h.tolist())
        assert sig == m.hashvalues.astype("<u4").tobytes()


def test_signatures_of_term_ids_equal_those_of_the_terms() -> None:
    """Story signatures are made from term ids and each term's hash, kept as the vocabulary
    grows between batches; they are the signatures of the terms themselves."""
    rng = random.Random(12)
    hashes = sketch.TermHashes()
    names: list[str] = []
    for batch in range(3):
        names += [f"term{batch}-{i}" for i in range(100)]
        sets = [rng.sample(range(len(names)), rng.randint(0, 40)) for _ in range(30)]
        sizes = np.array([len(s) for s in sets], dtype=np.int64)
        ids = np.array([t for s in sets for t in s], dtype=np.int64)
        ours = hashes.signatures(names, ids, sizes, sketch.STORY_PERMS)
        assert ours == sketch.signatures([[names[t] for t in s] for s in sets], sketch.STORY_PERMS)


def test_signatures_stay_those_of_the_terms_when_the_vocabulary_lets_terms_go() -> None:
    hashes = sketch.TermHashes()
    names = [f"term{i}" for i in range(10)]
    hashes.signatures(names, np.arange(8), np.array([8]), sketch.STORY_PERMS)  # 8 hashed
    used = np.array([1, 4, 7, 9])  # 9 not hashed yet
    hashes.keep(used)
    names = [names[i] for i in used.tolist()] + ["new"]
    ids, sizes = np.array([0, 1, 2, 3, 4, 3]), np.array([5, 1])
    assert hashes.signatures(names, ids, sizes, sketch.STORY_PERMS) == sketch.signatures(
        [names, ["term9"]], sketch.STORY_PERMS)


def test_the_sketch_version_names_datasketchs_major_version() -> None:
    major = datasketch.__version__.split(".")[0]
    assert f"datasketch-{major}/affine32/seed1" == sketch.SKETCH_VERSION


def test_commands_that_do_not_cluster_never_import_datasketch() -> None:
    """Its import pulls in much of scipy (0.2 s and 34 MB of every command's start): it waits
    until a signature is first made."""
    code = (
        "import sys, aggregator.cli, aggregator.jobs, aggregator.matching.sketch as s;"
        "print('datasketch' in sys.modules, end=' ');"
        "s.permutations(s.STORY_PERMS);"
        "print('datasketch' in sys.modules)"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True)
    assert found.stdout.split() == ["False", "True"]
