"""`aggregator eval` and the metrics, checked against hand-computed values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SHARED

from aggregator.cli import main
from aggregator.matching.metrics import Mistake, merges, score, splits


def test_metrics_by_hand() -> None:
    # gold: {a,b,c} {d,e}; predicted: {a,b} {c,d,e}
    gold = ["x", "x", "x", "y", "y"]
    pred = [1, 1, 2, 2, 2]
    s = score(gold, pred)
    # pairs together in both: ab, de -> 2; gold pairs 3+1=4; predicted pairs 1+3=4
    assert s.pair_precision == pytest.approx(0.5) and s.pair_recall == pytest.approx(0.5)
    # ARI: expected = 4*4/10 = 1.6; max = 4; (2-1.6)/(4-1.6) = 1/6
    assert s.ari == pytest.approx(1 / 6)
    # B-cubed precision: a,b: 1; c: 1/3; d,e: 2/3 -> (2 + 1/3 + 4/3)/5 = 11/15
    assert s.bcubed_precision == pytest.approx(11 / 15)
    # B-cubed recall: a,b: 2/3; c: 1/3; d,e: 1 -> (4/3 + 1/3 + 2)/5 = 11/15
    assert s.bcubed_recall == pytest.approx(11 / 15)
    assert score(gold, gold).ari == pytest.approx(1.0)
    # Merges: cluster 2 holds c (story x) and d, e (story y): 2 pairs wrongly together.
    assert merges(gold, pred) == [Mistake(((3, 4), (2,)), 2)]
    # Splits: story x lies in clusters 1 (a, b) and 2 (c): 2 pairs wrongly apart; y is whole.
    assert splits(gold, pred) == [Mistake(((0, 1), (2,)), 2)]
    assert merges(gold, gold) == splits(gold, gold) == []


def test_eval_command_on_a_small_labelled_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        ("q1", "quake", "Magnitude 6.8 earthquake strikes Sumatra", "A 6.8 earthquake struck Sumatra near Padang; no tsunami warning was issued."),
        ("q2", "quake", "Strong Sumatra earthquake jolts Padang", "The 6.8 earthquake jolted Padang in Sumatra; officials issued no tsunami warning."),
        ("s1", "strike", "Rotterdam dockers strike over pay", "Dockers at Rotterdam port went on strike over wages, halting container traffic."),
        ("s2", "strike", "Strike halts Rotterdam port", "A dockers' strike over pay halted container traffic at the port of Rotterdam."),
        ("f1", "flood", "Floods close schools in Bavaria", "Heavy rain flooded Bavarian towns and closed schools near the Danube."),
    ]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "story": s, "title": t, "text": x, "outlet": None,
                                          "published": None, "url": None}) for i, s, t, x in rows),
                    encoding="utf-8")
    assert main(["eval", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"articles", "stories", "clusters", "ari", "pair_precision", "pair_recall", "pair_f1",
            "bcubed_precision", "bcubed_recall", "bcubed_f1", "articles_per_second"} <= out.keys()
    assert out["articles"] == 5 and out["stories"] == 3
    assert out["clusters"] == 3 and out["ari"] == pytest.approx(1.0)
    assert main(["eval", str(path)]) == 0
    assert "ARI 1.000" in capsys.readouterr().out
    # A user tuning on their own labels: a stricter bar splits stories the default joins.
    assert main(["eval", str(path), "--json", "--threshold", "0.99"]) == 0
    strict = json.loads(capsys.readouterr().out)
    assert strict["clusters"] > out["clusters"] and strict["pair_recall"] < 1.0
    assert "merges" not in strict  # the keys, unless mistakes are asked for
    # ... and the stories it split, article by article, to see why.
    assert main(["eval", str(path), "--threshold", "0.99", "--mistakes", "1"]) == 0
    shown = capsys.readouterr().out
    assert "merges (clusters holding several gold stories): none" in shown
    assert "splits (gold stories in several clusters): the 1 costliest of 1" in shown
    assert "2 articles, 1 pair wrongly apart" in shown
    assert "- q1  Magnitude 6.8 earthquake strikes Sumatra" in shown
    assert "- q2  Strong Sumatra earthquake jolts Padang" in shown
    assert main(["eval", str(path), "--json", "--threshold", "0.99", "--mistakes", "5"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["merges"] == [] and listed["splits"] == [
        {"pairs": 1, "groups": [[{"id": "q1", "title": "Magnitude 6.8 earthquake strikes Sumatra"}],
                                [{"id": "q2", "title": "Strong Sumatra earthquake jolts Padang"}]]}
    ]
    with pytest.raises(SystemExit):
        main(["eval", str(path), "--mistakes", "-1"])


def test_eval_feeds_a_stream_of_polls_each_clustered_afresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # --polls N: the file arrives N articles at a time, each poll clustered by a clusterer of its
    # own (as each `aggregator poll` process is), which loads the window from the store.
    from aggregator import evaluate
    from aggregator.matching.clusterer import Clusterer, ClusterReport

    runs: list[int] = []

    class Counted(Clusterer):
        def run(self, limit: int | None = None) -> ClusterReport:
            report = super().run(limit)
            runs.append(report.articles)
            return report

    monkeypatch.setattr(evaluate, "Clusterer", Counted)
    text = "Dockers at Rotterdam port went on strike over wages, halting container traffic."
    path = tmp_path / "stream.jsonl"
    path.write_text("\n".join(json.dumps({"id": f"a{i}", "story": "strike", "title": "Rotterdam strike",
                                          "text": text, "outlet": f"wire {i}"}) for i in range(5)),
                    encoding="utf-8")
    assert main(["eval", str(path), "--json", "--polls", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert runs == [2, 2, 1, 0]
    assert out["articles"] == 5 and out["clusters"] == 1  # later polls' copies joined the story
    runs.clear()
    assert main(["eval", str(path), "--json"]) == 0
    assert runs == [5] and json.loads(capsys.readouterr().out)["clusters"] == 1
    with pytest.raises(SystemExit):
        main(["eval", str(path), "--polls", "0"])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("2021-05-03T10:00:00Z", "2021-05-13T10:00:00+00:00"),
        ("Mon, 03 May 2021 10:00:00 GMT", "Thu, 13 May 2021 12:00:00 +0200"),
        (1620036000, 1620900000.0),
    ],
)
def test_eval_reads_dates_as_feeds_and_exports_write_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], first: object, second: object
) -> None:
    # One report told twice, ten days apart: dated, the 72-hour window keeps them apart; read
    # as undated they would be one story.
    text = "A 6.8 earthquake struck Sumatra near Padang; no tsunami warning was issued."
    path = tmp_path / "dated.jsonl"
    path.write_text("\n".join(json.dumps({"id": i, "story": "quake", "title": "Sumatra earthquake",
                                          "text": text, "published": p})
                              for i, p in (("a", first), ("b", second))), encoding="utf-8")
    assert main(["eval", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["clusters"] == 2
    path.write_text(path.read_text(encoding="utf-8").replace('"published"', '"when"'),
                    encoding="utf-8")
    assert main(["eval", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["clusters"] == 1


@pytest.mark.skipif(not (SHARED / "eval" / "gedikli-chains.jsonl").exists(),
                    reason="shared/data not present")
def test_copy_level_precision_on_gedikli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(SHARED / "eval" / "gedikli-chains.jsonl"), "--level", "copies",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pair_precision"] == 1.0
