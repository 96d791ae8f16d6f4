"""The report figure: per-subject Chebyshev of every method, and sample windows' distributions.

Matplotlib runs on the Agg backend (files only), so reports can be written on headless machines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_report"]

#: Methods drawn over the true distribution in the sample-window panels.
SAMPLE_METHODS = ("helo", "population_mean", "condition_oracle")


def plot_report(data: dict[str, Any], path: str | Path, *, max_samples: int = 5) -> Path:
    """Draw the figure of a report (:func:`helo_stream.evaluation.report.report_dict` data).

    Top: Chebyshev distance (lower is better) per subject, one bar per method. Bottom: for the
    first subject's sample windows (one per protocol condition), the true distribution as bars
    and the predictions of the model and the two references as markers.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = data["methods"]
    titles = data["method_titles"]
    subjects = data["subjects"]
    samples = data["samples"]
    first = samples[0]["subject"] if samples else None
    shown = [s for s in samples if s["subject"] == first][:max_samples]
    n_cols = max(1, len(shown))
    fig = plt.figure(figsize=(max(10.0, 3.2 * n_cols), 8.5), layout="constrained")
    grid = fig.add_gridspec(2, n_cols, height_ratios=[1.0, 1.15])

    ax = fig.add_subplot(grid[0, :])
    width = 0.8 / max(1, len(methods))
    x = np.arange(len(subjects))
    colors = plt.get_cmap("tab10")
    top = 0.0
    for k, m in enumerate(methods):
        values = [data["per_subject"][s][m]["chebyshev"] for s in subjects]
        top = max(top, *values)
        ax.bar(
            x + (k - (len(methods) - 1) / 2) * width,
            values,
            width,
            label=titles[m],
            color=colors(k % 10),
        )
    ax.set_ylim(0.0, 1.3 * top if top > 0 else 1.0)  # room for the legend above the bars
    ax.set_xticks(x, subjects)
    ax.set_ylabel("Chebyshev distance (lower is better)")
    ax.set_title(f"{data['title']}: per-subject Chebyshev")
    ax.legend(ncol=min(3, len(methods)), fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.3)

    labels = data["labels"]
    markers = {"helo": "o", "population_mean": "_", "condition_oracle": "x"}
    drawn = [m for m in methods if m in SAMPLE_METHODS] or methods[:1]
    for j, sample in enumerate(shown):
        sub = fig.add_subplot(grid[1, j])
        pos = np.arange(len(labels))
        sub.barh(pos, sample["true"], color="0.8", label="self-report (true)")
        for m in drawn:
            k = methods.index(m)
            sub.scatter(
                sample["pred"][m],
                pos,
                s=14,
                marker=markers.get(m, "o"),
                color=colors(k % 10),
                label=titles[m],
                zorder=3,
            )
        sub.set_yticks(pos, labels if j == 0 else [""] * len(labels), fontsize=7)
        sub.invert_yaxis()
        sub.set_title(f"{sample['subject']} {sample['condition']}", fontsize=9)
        sub.set_xlabel("probability", fontsize=8)
        sub.tick_params(axis="x", labelsize=7)
        if j == 0:
            sub.legend(fontsize=7, loc="lower right")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
