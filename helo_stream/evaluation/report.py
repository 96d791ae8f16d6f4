"""Markdown + JSON reports of an :class:`~helo_stream.evaluation.loso.EvaluationResult`.

Scores are averaged per window within a subject, then mean ± standard deviation (ddof 0) over
subjects, so every subject counts once whatever its length. Besides the table of all methods,
the report states how much of the gap between the trivial population-mean predictor and the
condition oracle each trained method closes, and compares the first trained method (HeLo)
subject by subject with every other method (wins and a two-sided Wilcoxon signed-rank test).
The classical reference method (random forest → condition means) is one of the compared methods.

A decoding section states, per method, how well the published distribution separates the
protocol conditions (:mod:`helo_stream.evaluation.decoding`: nearest-condition-mean balanced
accuracy, stress/amusement against baseline AUROC), mean ± std over the subjects where each is
defined, and compares the first trained method with the random forest on them subject by
subject.

When the result holds the multi-label task (LOSO with TAILOR), a second table scores every
method's label sets with Jaccard accuracy, micro/macro precision, recall, F1 and Hamming loss,
each row saying how its sets were obtained, and TAILOR is compared with HeLo subject by subject
on both tasks.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from helo_stream.evaluation.decoding import DECODING_METRICS
from helo_stream.evaluation.loso import (
    FOREST,
    METRICS,
    MULTILABEL_METRICS,
    REFERENCES,
    EvaluationResult,
)
from helo_stream.metrics.distribution import HIGHER_IS_BETTER

__all__ = [
    "DECODING_TITLES",
    "METHOD_TITLES",
    "METRIC_TITLES",
    "MULTILABEL_TITLES",
    "decoding_section",
    "gap_closed",
    "multilabel_section",
    "paired_comparison",
    "render_markdown",
    "report_dict",
    "summarize",
    "write_report",
]

METHOD_TITLES: dict[str, str] = {
    "helo": "HeLo",
    "helo_no_ot": "HeLo w/o OT",
    "helo_no_label_corr": "HeLo w/o label correlation",
    "helo_no_condition": "HeLo w/o condition read-out",
    "mlp": "Late-fusion MLP",
    "tailor": "TAILOR (multi-label)",
    FOREST: "Random forest → condition means (classical reference)",
    "presence_majority": "Majority label set (trivial)",
    "condition_presence_oracle": "Condition majority sets (reference)",
    "population_mean": "Population mean (trivial)",
    "condition_oracle": "Condition oracle (reference)",
}
METRIC_TITLES: dict[str, str] = {
    "chebyshev": "Chebyshev ↓",
    "clark": "Clark ↓",
    "canberra": "Canberra ↓",
    "kl_divergence": "KL ↓",
    "cosine": "Cosine ↑",
    "intersection": "Intersection ↑",
}
MULTILABEL_TITLES: dict[str, str] = {
    "jaccard_accuracy": "Jaccard acc. ↑",
    "micro_precision": "micro P ↑",
    "micro_recall": "micro R ↑",
    "micro_f1": "micro F1 ↑",
    "macro_precision": "macro P ↑",
    "macro_recall": "macro R ↑",
    "macro_f1": "macro F1 ↑",
    "hamming_loss": "Hamming ↓",
}
DECODING_TITLES: dict[str, str] = {
    "condition_balanced_accuracy": "Condition bal. acc. ↑",
    "stress_auroc": "Stress vs baseline AUROC ↑",
    "amusement_auroc": "Amusement vs baseline AUROC ↑",
}
#: Multi-label measures where lower is better.
MULTILABEL_LOWER_IS_BETTER = frozenset({"hamming_loss"})


def _title(method: str) -> str:
    return METHOD_TITLES.get(method, method)


def _matrix(result: EvaluationResult, method: str, metric: str) -> np.ndarray:
    return np.array([result.per_subject[s][method][metric] for s in result.per_subject])


def summarize(result: EvaluationResult) -> dict[str, dict[str, dict[str, float]]]:
    """``method -> metric -> {"mean", "std"}`` over subjects."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for method in result.methods:
        out[method] = {}
        for metric in METRICS:
            values = _matrix(result, method, metric)
            out[method][metric] = {"mean": float(values.mean()), "std": float(values.std())}
    return out


def trained_methods(result: EvaluationResult) -> list[str]:
    return [m for m in result.methods if m not in REFERENCES]


def gap_closed(
    summary: dict[str, dict[str, dict[str, float]]], method: str
) -> dict[str, float | None]:
    """Per metric, ``(population_mean - method) / (population_mean - oracle)``.

    1 means the method is as good as the condition oracle, 0 as good as the trivial predictor,
    negative worse than it. The sign convention works for both directions of measure.
    """
    out: dict[str, float | None] = {}
    for metric in METRICS:
        low = summary["population_mean"][metric]["mean"]
        high = summary["condition_oracle"][metric]["mean"]
        value = summary[method][metric]["mean"]
        gap = low - high
        out[metric] = None if abs(gap) < 1e-15 else float((low - value) / gap)
    return out


def paired_comparison(
    result: EvaluationResult, method: str, other: str
) -> dict[str, dict[str, Any]]:
    """Per metric: subjects where ``method`` beats ``other``, and a Wilcoxon signed-rank p."""
    from scipy.stats import wilcoxon

    out: dict[str, dict[str, Any]] = {}
    for metric in METRICS:
        a, b = _matrix(result, method, metric), _matrix(result, other, metric)
        better = a > b if metric in HIGHER_IS_BETTER else a < b
        diff = a - b
        p: float | None = None
        if len(diff) >= 2 and np.any(diff != 0):
            p = float(wilcoxon(a, b).pvalue)
        out[metric] = {"wins": int(better.sum()), "n": len(a), "wilcoxon_p": p}
    return out


def _ml_values(result: EvaluationResult, method: str, metric: str) -> np.ndarray:
    subjects = result.per_subject_multilabel
    return np.array([subjects[s][method][metric] for s in subjects])


def multilabel_section(result: EvaluationResult) -> dict[str, Any] | None:
    """The multi-label task as JSON-ready data (None when the result has none).

    ``paired`` compares TAILOR with HeLo subject by subject on both tasks (wins of TAILOR and
    the two-sided Wilcoxon signed-rank p), when both were run.
    """
    from scipy.stats import wilcoxon

    if not result.multilabel_methods:
        return None
    methods = result.multilabel_methods
    summary = {
        m: {
            k: {
                "mean": float(_ml_values(result, m, k).mean()),
                "std": float(_ml_values(result, m, k).std()),
            }
            for k in MULTILABEL_METRICS
        }
        for m in methods
    }
    paired: dict[str, dict[str, Any]] = {}
    if "tailor" in methods and "helo" in methods:
        pairs = [
            (k, _matrix(result, "tailor", k), _matrix(result, "helo", k), k in HIGHER_IS_BETTER)
            for k in METRICS
        ]
        pairs += [
            (
                k,
                _ml_values(result, "tailor", k),
                _ml_values(result, "helo", k),
                k not in MULTILABEL_LOWER_IS_BETTER,
            )
            for k in MULTILABEL_METRICS
        ]
        for metric, a, b, higher in pairs:
            diff = a - b
            p = float(wilcoxon(a, b).pvalue) if len(a) >= 2 and np.any(diff != 0) else None
            wins = int((a > b).sum() if higher else (a < b).sum())
            paired[metric] = {"wins": wins, "n": len(a), "wilcoxon_p": p}
    return {
        "methods": methods,
        "metrics": list(MULTILABEL_METRICS),
        "lower_is_better": sorted(MULTILABEL_LOWER_IS_BETTER),
        "rules": result.multilabel_rules,
        "present_min_rating": result.settings.get("fit", {})
        .get("tailor", {})
        .get("present_min_rating", 3),
        "summary": summary,
        "per_subject": result.per_subject_multilabel,
        "tailor_vs_helo": paired,
    }


def _defined_summary(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean ± std (ddof 0) over the defined values, and how many there were."""
    kept = np.array([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if not len(kept):
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(kept.mean()), "std": float(kept.std()), "n": len(kept)}


def _paired_defined(a: Sequence[float | None], b: Sequence[float | None]) -> dict[str, Any]:
    """Higher-is-better paired comparison over the subjects where both values are defined."""
    from scipy.stats import wilcoxon

    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    x = np.array([p[0] for p in pairs], dtype=np.float64)
    y = np.array([p[1] for p in pairs], dtype=np.float64)
    p: float | None = None
    if len(x) >= 2 and np.any(x != y):
        p = float(wilcoxon(x, y).pvalue)
    return {
        "wins": int((x > y).sum()),
        "n": len(x),
        "wilcoxon_p": p,
        "mean": float(x.mean()) if len(x) else None,
        "mean_other": float(y.mean()) if len(y) else None,
    }


def decoding_section(result: EvaluationResult) -> dict[str, Any] | None:
    """The decoding measures as JSON-ready data (None when the result has none).

    ``summary`` is ``method -> measure -> {"mean", "std", "n"}`` over the subjects where the
    measure is defined (``n`` of them; mean None when none). ``paired`` compares the first
    trained method with the random forest subject by subject (subjects where it is better,
    two-sided Wilcoxon signed-rank p, both means over the same subjects), when both were run.
    """
    per_subject = result.per_subject_decoding
    if not per_subject:
        return None
    subjects = list(per_subject)
    methods = [m for m in result.methods if all(m in per_subject[s] for s in subjects)]
    metrics = list(result.decoding.get("metrics", DECODING_METRICS))

    def values(method: str, metric: str) -> list[float | None]:
        return [per_subject[s][method].get(metric) for s in subjects]

    summary = {m: {k: _defined_summary(values(m, k)) for k in metrics} for m in methods}
    models = [m for m in trained_methods(result) if m != FOREST]
    paired: dict[str, dict[str, Any]] = {}
    if models and FOREST in methods:
        lead = models[0]
        paired[f"{lead}_vs_{FOREST}"] = {
            k: _paired_defined(values(lead, k), values(FOREST, k)) for k in metrics
        }
    return {
        **result.decoding,
        "metrics": metrics,
        "methods": methods,
        "summary": summary,
        "per_subject": per_subject,
        "paired": paired,
    }


def report_dict(result: EvaluationResult, *, title: str, command: str | None) -> dict[str, Any]:
    """Everything of the report as JSON-ready data."""
    summary = summarize(result)
    models = trained_methods(result)
    has_refs = all(r in result.methods for r in REFERENCES)
    gaps = {m: gap_closed(summary, m) for m in models} if has_refs else {}
    paired = {}
    if models:
        lead = models[0]
        paired = {
            f"{lead}_vs_{other}": paired_comparison(result, lead, other)
            for other in result.methods
            if other != lead
        }
    return {
        "title": title,
        "kind": result.kind,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "labels": result.labels,
        "methods": result.methods,
        "method_titles": {m: _title(m) for m in result.methods},
        "metrics": list(METRICS),
        "higher_is_better": [m for m in METRICS if m in HIGHER_IS_BETTER],
        "subjects": list(result.per_subject),
        "n_windows": result.n_windows,
        "summary": summary,
        "gap_closed": gaps,
        "paired": paired,
        "per_subject": result.per_subject,
        "alignment": result.alignment,
        "timings": result.timings,
        "settings": result.settings,
        "notes": result.notes,
        "fold_info": result.fold_info,
        "samples": result.samples,
        "multilabel": multilabel_section(result),
        "decoding": decoding_section(result),
    }


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _best(summary: dict[str, dict[str, dict[str, float]]], methods: list[str]) -> dict[str, str]:
    """The best non-reference method per metric (bolded in the table)."""
    out = {}
    for metric in METRICS:
        values = {m: summary[m][metric]["mean"] for m in methods}
        pick = max if metric in HIGHER_IS_BETTER else min
        out[metric] = pick(values, key=values.__getitem__)
    return out


def render_markdown(data: dict[str, Any], *, figure: str | None) -> str:
    """The Markdown report from :func:`report_dict` output."""
    summary = data["summary"]
    methods = data["methods"]
    models = [m for m in methods if m not in REFERENCES]
    comparable = [m for m in methods if m != "condition_oracle"]
    best = _best(summary, comparable)
    lines = [f"# {data['title']}", ""]
    if data.get("command"):
        lines += ["Regenerate with:", "", "```", data["command"], "```", ""]
    n_subj = len(data["subjects"])
    total = sum(data["n_windows"].values())
    lines += [
        f"{n_subj} subjects, {total} labelled windows "
        f"({data['settings'].get('window_length_s', '?')} s long, step "
        f"{data['settings'].get('step_s', '?')} s). Each measure is averaged over a subject's "
        "windows, then mean ± std over subjects. ↓ lower is better, ↑ higher is better; bold: "
        "best method (the oracle is a reference, not a method).",
        "",
    ]
    for note in data["notes"]:
        lines += [f"- {note}"]
    lines += ["", "## Results", ""]
    rows = []
    for m in methods:
        cells = [data["method_titles"][m]]
        for metric in data["metrics"]:
            s = summary[m][metric]
            text = f"{s['mean']:.4f} ± {s['std']:.4f}"
            cells.append(f"**{text}**" if best.get(metric) == m else text)
        rows.append(cells)
    lines += _table(["method", *[METRIC_TITLES[k] for k in data["metrics"]]], rows)
    if data["gap_closed"]:
        lines += [
            "",
            "## Gap closed between the population mean and the condition oracle",
            "",
            "`(population mean − method) / (population mean − oracle)` on the subject means: "
            "0 = no better than predicting the training population's mean distribution, "
            "1 = as good as knowing each window's true protocol condition.",
            "",
        ]
        gaps = data["gap_closed"]
        rows = [
            [data["method_titles"][m], *(_fmt(gaps[m][k], 3) for k in data["metrics"])]
            for m in models
        ]
        lines += _table(["method", *[METRIC_TITLES[k] for k in data["metrics"]]], rows)
    if data["paired"]:
        lead = models[0]
        lines += [
            "",
            f"## {data['method_titles'][lead]} against each method, subject by subject",
            "",
            f"Subjects on which {data['method_titles'][lead]} is better / subjects, and the "
            "two-sided Wilcoxon signed-rank p-value.",
            "",
        ]
        rows = []
        for key, per_metric in data["paired"].items():
            other = key.split("_vs_", 1)[1]
            rows.append(
                [
                    data["method_titles"][other],
                    *[
                        f"{v['wins']}/{v['n']} (p={_fmt(v['wilcoxon_p'], 3)})"
                        for v in per_metric.values()
                    ],
                ]
            )
        lines += _table(["against", *[METRIC_TITLES[k] for k in data["metrics"]]], rows)
    if data.get("decoding"):
        lines += _decoding_markdown(data)
    if data.get("multilabel"):
        lines += _multilabel_markdown(data)
    if figure:
        lines += ["", f"![per-subject Chebyshev and sample windows]({figure})"]
    lines += ["", "## Per subject", ""]
    rows = []
    for subject, per_method in data["per_subject"].items():
        for m in methods:
            rows.append(
                [
                    subject,
                    str(data["n_windows"][subject]),
                    data["method_titles"][m],
                    *[_fmt(per_method[m][k]) for k in data["metrics"]],
                ]
            )
    lines += _table(
        ["subject", "windows", "method", *[METRIC_TITLES[k] for k in data["metrics"]]], rows
    )
    if data.get("decoding"):
        dec = data["decoding"]
        lines += ["", "Decoding per subject (n/a: not defined for that subject):", ""]
        rows = [
            [
                subject,
                data["method_titles"].get(m, m),
                *[_na(per_method[m].get(k), 3) for k in dec["metrics"]],
            ]
            for subject, per_method in dec["per_subject"].items()
            for m in dec["methods"]
        ]
        lines += _table(
            ["subject", "method", *[DECODING_TITLES.get(k, k) for k in dec["metrics"]]], rows
        )
    lines += ["", "## E4 / chest-strap alignment", ""]
    rows = []
    for a in data["alignment"]:
        rows.append(
            [
                a["subject"],
                "yes" if a["used"] else "**no**",
                str(a["method"]),
                _fmt(a["offset_s"], 2),
                _fmt(a["confidence"], 2),
                _fmt(a["uncertainty_s"], 1),
                str(a["n_labelled"]),
                (a["excluded_reason"] or a["reason"] or "").replace("|", "/"),
            ]
        )
    lines += _table(
        [
            "subject",
            "used",
            "method",
            "offset s",
            "confidence",
            "± s",
            "labelled windows",
            "evidence",
        ],
        rows,
    )
    notes = [(a["subject"], n) for a in data["alignment"] for n in a["notes"]]
    if notes:
        lines += ["", "Reader warnings:", ""]
        lines += [f"- {s}: {n}" for s, n in notes]
    if data["timings"]:
        lines += ["", "## Timings", ""]
        t = data["timings"]
        per_fold = t.get("fit_seconds_per_fold", {})
        for m, secs in t.get("fit_seconds_total", {}).items():
            title = data["method_titles"].get(m, m)
            folds = per_fold.get(m) or {}
            if data["kind"] != "loso":
                lines.append(f"- {title}: {secs:.1f} s of fitting")
            elif folds:
                lines.append(
                    f"- {title}: {secs:.0f} s of training over all folds "
                    f"({secs / len(folds):.1f} s per fold)"
                )
            else:
                lines.append(f"- {title}: {secs:.0f} s of training over all folds")
        if "wall_seconds_this_run" in t:
            lines.append(
                f"- wall time of the run that wrote this report: "
                f"{t['wall_seconds_this_run']:.0f} s ({t.get('tasks_run_this_run')} fits, "
                f"{t.get('jobs')} process(es); 0 fits means all came from the resume cache)"
            )
    lines += ["", "## Settings", "", "```json", json.dumps(data["settings"], indent=2), "```", ""]
    return "\n".join(lines)


def _na(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _decoding_markdown(data: dict[str, Any]) -> list[str]:
    """The decoding table and the lead-method-vs-forest comparison."""
    dec = data["decoding"]
    titles = data["method_titles"]
    n_subj = len(dec["per_subject"])
    conditions = dec.get("conditions") or []
    chance = (
        f" (chance: 1/{len(conditions)} = {1 / len(conditions):.3f} with the "
        f"{len(conditions)} conditions {', '.join(conditions)})"
        if conditions
        else ""
    )
    lines = [
        "",
        "## Decoding: do the distributions separate the protocol conditions?",
        "",
        "Computed per subject from each method's distributions on its labelled windows, then "
        "mean ± std over the subjects where the measure is defined (a subject lacking one "
        "of the two conditions of an AUROC is left out of it; the cell then says how many "
        "subjects it is over).",
        "",
        "- Condition bal. acc.: each window is assigned the condition whose training "
        f"condition mean is nearest ({dec.get('divergence', 'Euclidean distance')}; the "
        "fold's means in LOSO, the checkpoint's otherwise), against its true condition; "
        f"balanced accuracy = mean recall over the subject's conditions{chance}.",
    ]
    for key, task in dec.get("auroc", {}).items():
        what = (
            f"p({task['label']}) as the score"
            if task["label_in_set"]
            else f"n/a: the label set has no `{task['label']}`"
        )
        lines.append(
            f"- {DECODING_TITLES.get(key, key).rstrip(' ↑')}: {task['positive']} windows "
            f"(positive) against {task['negative']} windows (negative), {what}; 0.5 = chance."
        )
    lines.append("")
    candidates = [m for m in dec["methods"] if m != "condition_oracle"]
    best: dict[str, str] = {}
    for metric in dec["metrics"]:
        values = {
            m: dec["summary"][m][metric]["mean"]
            for m in candidates
            if dec["summary"][m][metric]["mean"] is not None
        }
        if values:
            best[metric] = max(values, key=values.__getitem__)
    rows = []
    for m in dec["methods"]:
        cells = [titles.get(m, m)]
        for metric in dec["metrics"]:
            s = dec["summary"][m][metric]
            if s["mean"] is None:
                cells.append("n/a")
                continue
            text = f"{s['mean']:.3f} ± {s['std']:.3f}"
            text = f"**{text}**" if best.get(metric) == m else text
            cells.append(f"{text} (n={s['n']})")
        rows.append(cells)
    lines += _table(["method", *[DECODING_TITLES.get(k, k) for k in dec["metrics"]]], rows)
    lines += [
        "",
        f"n = subjects the mean is over (of {n_subj}). Bold: best method (the condition "
        "oracle is a reference, not a method).",
    ]
    for key, per_metric in dec["paired"].items():
        lead, other = key.split("_vs_", 1)
        lead_t, other_t = titles.get(lead, lead), titles.get(other, other)
        lines += [
            "",
            f"### {lead_t} against the random forest on decoding, subject by subject",
            "",
            f"Subjects on which {lead_t} is better / subjects where both are defined, both "
            "means over those subjects, and the two-sided Wilcoxon signed-rank p-value.",
            "",
        ]
        rows = [
            [
                DECODING_TITLES.get(k, k),
                _na(v["mean"]),
                _na(v["mean_other"]),
                f"{v['wins']}/{v['n']}",
                _fmt(v["wilcoxon_p"], 3),
            ]
            for k, v in per_metric.items()
        ]
        lines += _table(["measure", lead_t, other_t, f"{lead_t} better", "Wilcoxon p"], rows)
    return lines


def _multilabel_markdown(data: dict[str, Any]) -> list[str]:
    """The multi-label table and the TAILOR-vs-HeLo comparison on both tasks."""
    ml = data["multilabel"]
    titles = {**data["method_titles"], **{m: METHOD_TITLES.get(m, m) for m in ml["methods"]}}
    refs = {"condition_oracle", "condition_presence_oracle"}
    candidates = [m for m in ml["methods"] if m not in refs]
    best = {}
    for metric in ml["metrics"]:
        values = {m: ml["summary"][m][metric]["mean"] for m in candidates}
        pick = min if metric in ml["lower_is_better"] else max
        best[metric] = pick(values, key=values.__getitem__)
    lines = [
        "",
        "## Multi-label task: which emotions are present",
        "",
        "Presence targets: an item is present in every window of a condition when the subject "
        f"rated it at least {ml['present_min_rating']} (1-5) after that condition. Each "
        "method's label sets come from the rule in the last column; the measures are "
        "computed per subject over its windows, then mean ± std over subjects (Jaccard "
        "accuracy: both sets empty counts 1; precision/recall/F1 with nothing to divide by "
        "count 0).",
        "",
    ]
    rows = []
    for m in ml["methods"]:
        cells = [titles[m]]
        for metric in ml["metrics"]:
            s = ml["summary"][m][metric]
            text = f"{s['mean']:.4f} ± {s['std']:.4f}"
            cells.append(f"**{text}**" if best.get(metric) == m else text)
        cells.append(ml["rules"].get(m, ""))
        rows.append(cells)
    lines += _table(["method", *[MULTILABEL_TITLES[k] for k in ml["metrics"]], "label sets"], rows)
    if ml["tailor_vs_helo"]:
        lines += [
            "",
            "## TAILOR against HeLo on both tasks, subject by subject",
            "",
            "Subjects on which TAILOR is better / subjects, and the two-sided Wilcoxon "
            "signed-rank p-value; the distribution measures score TAILOR's presence scores "
            "normalised to sum 1.",
            "",
        ]
        paired = ml["tailor_vs_helo"]
        lines += _table(
            ["measure", "TAILOR better", "Wilcoxon p"],
            [
                [
                    {**METRIC_TITLES, **MULTILABEL_TITLES}[k],
                    f"{v['wins']}/{v['n']}",
                    _fmt(v["wilcoxon_p"], 3),
                ]
                for k, v in paired.items()
            ],
        )
    return lines


def write_report(
    result: EvaluationResult,
    out_dir: str | Path,
    *,
    name: str,
    title: str,
    command: str | None = None,
    figure: bool = True,
) -> dict[str, Path]:
    """Write ``NAME.md``, ``NAME.json`` and (with ``figure``) ``NAME.png`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = report_dict(result, title=title, command=command)
    paths = {"json": out / f"{name}.json", "md": out / f"{name}.md"}
    png = None
    if figure:
        from helo_stream.evaluation.plots import plot_report

        paths["png"] = out / f"{name}.png"
        plot_report(data, paths["png"])
        png = paths["png"].name
    paths["json"].write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    paths["md"].write_text(render_markdown(data, figure=png), encoding="utf-8")
    return paths
