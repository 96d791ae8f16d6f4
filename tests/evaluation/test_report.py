"""Report numbers on a hand-made result, and the files a report consists of."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helo_stream.evaluation.decoding import DECODING_METRICS, decoding_info
from helo_stream.evaluation.loso import METRICS, EvaluationResult
from helo_stream.evaluation.report import (
    DECODING_TITLES,
    METRIC_TITLES,
    decoding_section,
    gap_closed,
    paired_comparison,
    summarize,
    write_report,
)

METHODS = ["helo", "mlp", "random_forest", "population_mean", "condition_oracle"]
FOREST_TITLE = "Random forest → condition means (classical reference)"
#: Chebyshev per subject (lower is better); the other measures get simple stand-ins.
CHEB = {
    "S1": {
        "helo": 0.030,
        "mlp": 0.040,
        "random_forest": 0.035,
        "population_mean": 0.040,
        "condition_oracle": 0.020,
    },
    "S2": {
        "helo": 0.050,
        "mlp": 0.050,
        "random_forest": 0.055,
        "population_mean": 0.060,
        "condition_oracle": 0.040,
    },
}
#: Decoding per subject: balanced accuracy, stress AUROC, amusement AUROC (None: n/a).
DECODING = {
    "S1": {
        "helo": (0.60, 0.90, 0.70),
        "mlp": (0.50, 0.80, 0.60),
        "random_forest": (0.50, 0.70, 0.80),
        "population_mean": (0.25, 0.50, 0.50),
        "condition_oracle": (1.00, 1.00, 1.00),
    },
    "S2": {  # S2 has no amusement windows
        "helo": (0.40, 0.60, None),
        "mlp": (0.30, 0.50, None),
        "random_forest": (0.50, 0.50, None),
        "population_mean": (0.25, 0.50, None),
        "condition_oracle": (1.00, 1.00, None),
    },
}


def _result(*, decoding: bool = True) -> EvaluationResult:
    per_subject = {
        s: {
            m: {k: (v if k != "cosine" else 1.0 - v) for k in METRICS}
            for m, v in per_method.items()
        }
        for s, per_method in CHEB.items()
    }
    labels = ["a", "b", "c"]
    sample = {
        "subject": "S1",
        "condition": "stress",
        "window_end": 10.0,
        "true": [0.2, 0.3, 0.5],
        "pred": {m: [1 / 3, 1 / 3, 1 / 3] for m in METHODS},
    }
    return EvaluationResult(
        kind="loso",
        methods=METHODS,
        labels=labels,
        per_subject=per_subject,
        n_windows={"S1": 10, "S2": 12},
        alignment=[
            {
                "subject": s,
                "used": True,
                "method": "tap",
                "offset_s": 1.0,
                "confidence": 0.9,
                "uncertainty_s": 1.0,
                "alignment_ok": True,
                "n_windows": 20,
                "n_labelled": 10,
                "rated_conditions": ["stress"],
                "reason": "tap",
                "excluded_reason": None,
                "notes": [],
            }
            for s in ("S1", "S2")
        ],
        samples=[sample],
        timings={
            "fit_seconds_total": {"helo": 12.0, "mlp": 3.0, "random_forest": 4.0},
            "fit_seconds_per_fold": {
                "helo": {"S1": 6.0, "S2": 6.0},
                "mlp": {"S1": 1.0, "S2": 2.0},
                "random_forest": {"S1": 2.0, "S2": 2.0},
            },
        },
        settings={"step_s": 2.0, "window_length_s": 60.0},
        per_subject_decoding=(
            {
                s: {m: dict(zip(DECODING_METRICS, v, strict=True)) for m, v in per.items()}
                for s, per in DECODING.items()
            }
            if decoding
            else {}
        ),
        decoding=(
            decoding_info([*labels, "stressed"], conditions=["baseline", "stress", "amusement"])
            if decoding
            else {}
        ),
    )


def test_summary_gap_and_paired_numbers() -> None:
    result = _result()
    summary = summarize(result)
    assert summary["helo"]["chebyshev"]["mean"] == pytest.approx(0.040)
    assert summary["helo"]["chebyshev"]["std"] == pytest.approx(0.010)
    # population mean 0.050, oracle 0.030, HeLo 0.040: half the gap closed; MLP 0.045: a quarter
    gaps = gap_closed(summary, "helo")
    assert gaps["chebyshev"] == pytest.approx(0.5)
    assert gap_closed(summary, "mlp")["chebyshev"] == pytest.approx(0.25)
    # cosine = 1 - value, higher is better: same fraction through the sign convention
    assert gaps["cosine"] == pytest.approx(0.5)
    paired = paired_comparison(result, "helo", "mlp")
    assert paired["chebyshev"]["wins"] == 1 and paired["chebyshev"]["n"] == 2
    assert paired["cosine"]["wins"] == 1


def test_report_files_hold_every_metric_and_subject(tmp_path: Path) -> None:
    paths = write_report(_result(), tmp_path, name="rep", title="T", command="helo-stream x")
    assert {p.name for p in paths.values()} == {"rep.md", "rep.json", "rep.png"}
    assert paths["png"].stat().st_size > 10_000
    data = json.loads(paths["json"].read_text())
    assert data["metrics"] == list(METRICS)
    for method in METHODS:
        assert set(data["summary"][method]) == set(METRICS)
        for subject in ("S1", "S2"):
            assert set(data["per_subject"][subject][method]) == set(METRICS)
    assert data["gap_closed"]["helo"]["chebyshev"] == pytest.approx(0.5)
    md = paths["md"].read_text()
    for title in METRIC_TITLES.values():
        assert title in md
    assert "helo-stream x" in md
    rows = [line for line in md.splitlines() if line.startswith(("| S1 |", "| S2 |"))]
    # per-subject metric and decoding rows of every method, plus each subject's alignment row
    assert len(rows) == 2 * (2 * len(METHODS) + 1)
    assert "0.0400 ± 0.0100" in md
    assert np.isclose(float(md.split("| HeLo | ")[2].split(" |")[0]), 0.5)


def test_forest_is_a_compared_method_in_every_table(tmp_path: Path) -> None:
    paths = write_report(_result(), tmp_path, name="rep", title="T", figure=False)
    data = json.loads(paths["json"].read_text())
    assert data["method_titles"]["random_forest"] == FOREST_TITLE
    assert data["gap_closed"]["random_forest"]["chebyshev"] == pytest.approx(0.25)
    assert data["paired"]["helo_vs_random_forest"]["chebyshev"]["wins"] == 2
    md = paths["md"].read_text()
    results = md.split("## Results")[1].split("## Gap closed")[0]
    assert f"| {FOREST_TITLE} | 0.0450 ± 0.0100 |" in results
    # bold marks the best method; the forest is one, the oracle (0.0300) is not
    assert "**0.0400 ± 0.0100**" in results and "**0.0300" not in results
    gap = md.split("## Gap closed")[1].split("## HeLo against each method")[0]
    assert f"| {FOREST_TITLE} | 0.250 |" in gap
    paired = md.split("## HeLo against each method")[1].split("## Decoding")[0]
    assert f"| {FOREST_TITLE} | 2/2 (p=0.500) |" in paired
    assert f"- {FOREST_TITLE}: 4 s of training over all folds (2.0 s per fold)" in md


def test_decoding_summary_and_the_forest_comparison() -> None:
    dec = decoding_section(_result())
    assert dec is not None and dec["methods"] == METHODS
    helo = dec["summary"]["helo"]
    bal = helo["condition_balanced_accuracy"]
    assert bal["mean"] == pytest.approx(0.5) and bal["std"] == pytest.approx(0.1)
    assert bal["n"] == 2
    # S2 lacks amusement: that mean is over S1 alone, with n = 1
    assert helo["amusement_auroc"] == {"mean": 0.7, "std": 0.0, "n": 1}
    vs = dec["paired"]["helo_vs_random_forest"]
    assert vs["condition_balanced_accuracy"]["wins"] == 1  # 0.6 > 0.5, 0.4 < 0.5
    assert vs["stress_auroc"]["wins"] == 2 and vs["stress_auroc"]["n"] == 2
    assert vs["stress_auroc"]["wilcoxon_p"] == pytest.approx(0.5)
    assert vs["amusement_auroc"] == {
        "wins": 0,
        "n": 1,
        "wilcoxon_p": None,
        "mean": 0.7,
        "mean_other": 0.8,
    }
    assert decoding_section(_result(decoding=False)) is None


def test_decoding_markdown(tmp_path: Path) -> None:
    paths = write_report(_result(), tmp_path, name="rep", title="T", figure=False)
    md = paths["md"].read_text()
    section = md.split("## Decoding: do the distributions separate the protocol conditions?")[1]
    section = section.split("\n## ")[0]
    for title in DECODING_TITLES.values():
        assert title in section
    assert "Euclidean distance" in section and "chance: 1/3" in section
    assert "p(stressed) as the score" in section
    assert "n/a: the label set has no `happy`" in section  # labels a, b, c, stressed
    assert "| HeLo | **0.500 ± 0.100** (n=2) | **0.750 ± 0.150** (n=2) | 0.700 ± 0.000 (n=1) |" in (
        section
    )
    assert "### HeLo against the random forest on decoding, subject by subject" in section
    assert "| Condition bal. acc. ↑ | 0.500 | 0.500 | 1/2 | 1.000 |" in section
    assert "| Amusement vs baseline AUROC ↑ | 0.700 | 0.800 | 0/1 | – |" in section
    per_subject = md.split("Decoding per subject")[1]
    assert f"| S2 | {FOREST_TITLE} | 0.500 | 0.500 | n/a |" in per_subject
    data = json.loads(paths["json"].read_text())
    assert data["decoding"]["summary"]["random_forest"]["amusement_auroc"]["n"] == 1
    assert data["decoding"]["per_subject"]["S2"]["helo"]["amusement_auroc"] is None
    # A result without decoding (an older one) has no such section.
    old = write_report(_result(decoding=False), tmp_path / "old", name="r", title="T", figure=False)
    assert "## Decoding" not in old["md"].read_text()
    assert json.loads(old["json"].read_text())["decoding"] is None
