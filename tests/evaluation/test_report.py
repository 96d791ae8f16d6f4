"""Report numbers on a hand-made result, and the files a report consists of."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helo_stream.evaluation.loso import METRICS, EvaluationResult
from helo_stream.evaluation.report import (
    METRIC_TITLES,
    gap_closed,
    paired_comparison,
    summarize,
    write_report,
)

METHODS = ["helo", "mlp", "population_mean", "condition_oracle"]
#: Chebyshev per subject (lower is better); the other measures get simple stand-ins.
CHEB = {
    "S1": {"helo": 0.030, "mlp": 0.040, "population_mean": 0.040, "condition_oracle": 0.020},
    "S2": {"helo": 0.050, "mlp": 0.050, "population_mean": 0.060, "condition_oracle": 0.040},
}


def _result() -> EvaluationResult:
    per_subject = {
        s: {
            m: {k: (v if k != "cosine" else 1.0 - v) for k in METRICS}
            for m, v in per_method.items()
        }
        for s, per_method in CHEB.items()
    }
    labels = ["a", "b", "c"]
    sample = {
        "subject": "S1", "condition": "stress", "window_end": 10.0, "true": [0.2, 0.3, 0.5],
        "pred": {m: [1 / 3, 1 / 3, 1 / 3] for m in METHODS},
    }
    return EvaluationResult(
        kind="loso", methods=METHODS, labels=labels, per_subject=per_subject,
        n_windows={"S1": 10, "S2": 12},
        alignment=[
            {"subject": s, "used": True, "method": "tap", "offset_s": 1.0, "confidence": 0.9,
             "uncertainty_s": 1.0, "alignment_ok": True, "n_windows": 20, "n_labelled": 10,
             "rated_conditions": ["stress"], "reason": "tap", "excluded_reason": None,
             "notes": []}
            for s in ("S1", "S2")
        ],
        samples=[sample],
        timings={"fit_seconds_total": {"helo": 12.0, "mlp": 3.0}},
        settings={"step_s": 2.0, "window_length_s": 60.0},
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
    # four per-subject metric rows each, plus each subject's alignment row
    assert len(rows) == 2 * (len(METHODS) + 1)
    assert "0.0400 ± 0.0100" in md
    assert np.isclose(float(md.split("| HeLo | ")[2].split(" |")[0]), 0.5)
