"""Metrics of an evaluation and its report: ``report.json``, ``table.md`` and two charts.

Everything up to the file writers is pure: per-sample :class:`Outcome` lists go in,
:func:`summarize` turns one list into the metrics of one condition and pipeline,
:func:`check_targets` compares the served pipeline with its targets and :func:`markdown_table`
renders the summary table.

Usage::

    from evaluation.report import Outcome, summarize, markdown_table, write_report

    metrics = summarize([Outcome(label=3, digit=3, confidence=0.99, sure=True)], digits=True)
    paths = write_report(Path("reports/evaluation"), report, previews)
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imaging.pipeline import V1, V2  # the names the service records

NAIVE = "naive"
#: The pipelines compared, in table and chart order.
PIPELINES = (NAIVE, V1, V2)
#: The pipeline the service applies: the one the targets are for.
SERVED = V2
ACCURACY_TARGET = 0.98
PRECISION_TARGET = 0.99

REPORT_JSON = "report.json"
TABLE_MD = "table.md"
ACCURACY_PNG = "accuracy.png"
PREVIEW_PNG = "preview.png"
MISSED = " ✗"
#: How ``table.md`` names the stages whose key is terse.
STAGE_LABELS = {
    "rest": "rest (stretch, thicken_strokes, fit_box, center_by_mass)",
    "full": f"**full: decode_image + {V2}**",
}
NONE = "–"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one pipeline made of one sample.

    Attributes:
        label: The true digit, None for an image without one.
        digit: The digit answered, None when refused or failed.
        confidence: The answer's probability.
        sure: The answer was flagged sure (confidence at or above the threshold).
        refused: The pipeline said there is no (single) digit: 422 from the service.
        error: Any other failure (HTTP 4xx/5xx, undecodable), as a short text.
        latency_ms: Client-side request time (HTTP pipeline only).
        server_ms: Server-side time from a ``Server-Timing`` header, when present.
    """

    label: int | None
    digit: int | None = None
    confidence: float | None = None
    sure: bool = False
    refused: bool = False
    error: str | None = None
    latency_ms: float | None = None
    server_ms: float | None = None

    @property
    def answered(self) -> bool:
        """A digit was answered."""
        return self.digit is not None

    @property
    def correct(self) -> bool:
        """The answered digit is the true one."""
        return self.label is not None and self.digit == self.label


@dataclass(frozen=True, slots=True)
class Preview:
    """One row of ``preview.png``: an upload and the 28x28 images two pipelines made of it.

    Attributes:
        condition: The condition it was rendered in.
        label: The true digit (None: no digit).
        thumbnail: The upload, downscaled (uint8 RGB or gray).
        v1: What ``mnist-norm-1`` produced, None when it refused.
        v2: What ``mnist-norm-2`` produced, None when it refused.
    """

    condition: str
    label: int | None
    thumbnail: np.ndarray
    v1: np.ndarray | None
    v2: np.ndarray | None


def share(count: int, total: int) -> float | None:
    """``count / total``, None when there is nothing to divide by."""
    return count / total if total else None


def percentiles(values: Sequence[float]) -> dict[str, float] | None:
    """p50, p95 and max of some timings (ms), None when there are none."""
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(array, 50)), 3),
        "p95": round(float(np.percentile(array, 95)), 3),
        "max": round(float(array.max()), 3),
    }


def summarize(outcomes: Sequence[Outcome], digits: bool) -> dict[str, Any]:
    """The metrics of one pipeline on one condition.

    On a digit condition, ``accuracy`` is the share of correct digits (a refusal is wrong) and
    ``precision_of_sure`` the share of correct digits among the sure answers. On ``no_digit``,
    ``accuracy`` is ``rejected_or_unsure``: the share of images refused or answered without
    being sure; ``precision_of_sure`` is None there.

    Args:
        outcomes: One per sample.
        digits: Whether the condition's images show a digit.
    """
    n = len(outcomes)
    sure = [o for o in outcomes if o.sure]
    metrics: dict[str, Any] = {
        "n": n,
        "digit_condition": digits,
        "refused": share(sum(o.refused for o in outcomes), n),
        "sure": share(len(sure), n),
        "errors": share(sum(o.error is not None for o in outcomes), n),
    }
    if digits:
        metrics["accuracy"] = share(sum(o.correct for o in outcomes), n)
        metrics["precision_of_sure"] = share(sum(o.correct for o in sure), len(sure))
    else:
        declined = sum(o.refused or (o.answered and not o.sure) for o in outcomes)
        metrics["rejected_or_unsure"] = share(declined, n)
        metrics["accuracy"] = metrics["rejected_or_unsure"]
        metrics["precision_of_sure"] = None
    latencies = [o.latency_ms for o in outcomes if o.latency_ms is not None]
    metrics["latency_ms"] = percentiles(latencies)
    metrics["server_ms"] = percentiles([o.server_ms for o in outcomes if o.server_ms is not None])
    metrics["error_kinds"] = dict(Counter(o.error for o in outcomes if o.error).most_common(5))
    return metrics


def check_targets(
    results: dict[str, dict[str, dict[str, Any]]],
    pipeline: str = SERVED,
    accuracy: float = ACCURACY_TARGET,
    precision: float = PRECISION_TARGET,
) -> dict[str, Any]:
    """Compare one pipeline's metrics with the targets, condition by condition.

    Every condition needs ``accuracy >= accuracy`` (on ``no_digit`` that is rejected_or_unsure);
    digit conditions also need ``precision_of_sure >= precision``. A missing value misses.

    Args:
        results: condition -> pipeline -> metrics (from :func:`summarize`).
        pipeline: The pipeline the targets apply to.
        accuracy: Accuracy target.
        precision: Precision-of-sure target.
    """
    checks = []
    for condition, by_pipeline in results.items():
        metrics = by_pipeline.get(pipeline, {})
        digits = metrics.get("digit_condition", True)
        name = "accuracy" if digits else "rejected_or_unsure"
        checks.append(_check(condition, name, metrics.get(name), accuracy))
        if digits:
            checks.append(
                _check(condition, "precision_of_sure", metrics.get("precision_of_sure"), precision)
            )
    return {
        "pipeline": pipeline,
        "accuracy": accuracy,
        "precision_of_sure": precision,
        "checks": checks,
        "all_met": all(c["met"] for c in checks),
    }


def _check(condition: str, metric: str, value: float | None, target: float) -> dict[str, Any]:
    met = value is not None and value >= target
    return {"condition": condition, "metric": metric, "value": value, "target": target, "met": met}


def missed(report: dict[str, Any]) -> set[tuple[str, str]]:
    """The (condition, metric) pairs whose target was missed."""
    checks = report.get("targets", {}).get("checks", [])
    return {(c["condition"], c["metric"]) for c in checks if not c["met"]}


def percent(value: float | None) -> str:
    """``0.9834`` -> ``98.3%``; None -> a dash."""
    return NONE if value is None else f"{100 * value:.1f}%"


def milliseconds(value: float | None, decimals: int = 1) -> str:
    """A duration in ms with ``decimals`` decimals; None -> a dash."""
    return NONE if value is None else f"{value:.{decimals}f}"


def markdown_table(report: dict[str, Any]) -> str:
    """The summary table: one row per condition, the accuracy of each pipeline, v2's extras.

    Missed targets of the served pipeline are marked with ✗. On ``no_digit`` the accuracy
    columns show the share of images refused or answered unsure.
    """
    lines = [
        f"| condition | {NAIVE} | {V1} | {V2} | sure precision (v2) | server p50 ms (v2) "
        "| client p50 ms (v2) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    failed = missed(report)
    for condition in report["conditions"]:
        lines.append(_row(condition, report["results"].get(condition, {}), failed))
    return "\n".join(lines) + "\n"


def _row(condition: str, by_pipeline: dict[str, Any], failed: set[tuple[str, str]]) -> str:
    served = by_pipeline.get(V2, {})
    accuracy_metric = "accuracy" if served.get("digit_condition", True) else "rejected_or_unsure"
    cells = [condition if served.get("digit_condition", True) else f"{condition}*"]
    cells += [percent(by_pipeline.get(p, {}).get("accuracy")) for p in (NAIVE, V1)]
    cells.append(percent(served.get("accuracy")) + _mark(condition, accuracy_metric, failed))
    precision = percent(served.get("precision_of_sure"))
    cells.append(precision + _mark(condition, "precision_of_sure", failed))
    cells.append(milliseconds((served.get("server_ms") or {}).get("p50")))
    cells.append(milliseconds((served.get("latency_ms") or {}).get("p50")))
    return "| " + " | ".join(cells) + " |"


def _mark(condition: str, metric: str, failed: set[tuple[str, str]]) -> str:
    return MISSED if (condition, metric) in failed else ""


def stage_table(report: dict[str, Any]) -> str:
    """Per-stage preprocessing cost: one row per stage, one column per input (median ms)."""
    costs: dict[str, dict[str, Any]] = report.get("stage_cost_ms", {})
    if not costs:
        return ""
    inputs = list(costs)
    stages = list(dict.fromkeys(s for i in inputs for s in costs[i].get("stages", {})))
    lines = ["| stage | " + " | ".join(inputs) + " |", "| --- |" + " ---: |" * len(inputs)]
    for stage in stages:
        values = [milliseconds(costs[i]["stages"].get(stage), 2) for i in inputs]
        lines.append(f"| {STAGE_LABELS.get(stage, stage)} | " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"


def table_document(report: dict[str, Any]) -> str:
    """The whole of ``table.md``: the summary table, its legend and the stage costs."""
    targets = report.get("targets", {})
    parts = [
        "# Evaluation on realistic uploads\n",
        f"Model `{report.get('model', {}).get('tag', '?')}`, served preprocessing "
        f"`{report.get('preprocessing_version', '?')}`, {report.get('per_condition', '?')} "
        f"images per condition (MNIST test digits, seed {report.get('seed', '?')}). "
        f"Reproduce with `{report.get('command', 'make evaluate')}`.\n",
        markdown_table(report),
        f"Accuracy = correct digits / images (a refusal is wrong); on `no_digit` the share of "
        f"images refused or answered unsure (*). ✗: below the {V2} targets "
        f"(accuracy {percent(targets.get('accuracy'))}, sure precision "
        f"{percent(targets.get('precision_of_sure'))}). Server time is the service's own work per "
        f"request (decode to record, its `Server-Timing` header); client latency adds HTTP and "
        f"multipart, with {report.get('service', {}).get('clients', '?')} concurrent clients "
        f"on the same 2 cores.\n",
    ]
    stages = stage_table(report)
    if stages:
        parts += ["## Preprocessing cost per stage (median ms, in-process)\n", stages]
    return "\n".join(parts)


def write_report(
    report_dir: Path, report: dict[str, Any], previews: Sequence[Preview] = ()
) -> list[Path]:
    """Write ``report.json``, ``table.md``, ``accuracy.png`` and (with previews) ``preview.png``.

    Args:
        report_dir: Created if missing; existing report files are replaced.
        report: The whole report (JSON-serialisable).
        previews: Rows of the preview grid; no ``preview.png`` without them.

    Returns:
        The paths written.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    json_path = report_dir / REPORT_JSON
    json_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    table_path = report_dir / TABLE_MD
    table_path.write_text(table_document(report))
    paths = [json_path, table_path, plot_accuracy(report, report_dir / ACCURACY_PNG)]
    if previews:
        paths.append(plot_previews(previews, report_dir / PREVIEW_PNG))
    return paths


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy(report: dict[str, Any], path: Path) -> Path:
    """Grouped bars: accuracy per condition for the three pipelines, a line at the target."""
    plt = _pyplot()
    conditions = list(report["conditions"])
    x = np.arange(len(conditions))
    width = 0.8 / len(PIPELINES)
    fig, ax = plt.subplots(figsize=(max(8.0, 1.1 * len(conditions)), 5))
    for i, pipeline in enumerate(PIPELINES):
        values = [
            report["results"].get(c, {}).get(pipeline, {}).get("accuracy") or 0.0
            for c in conditions
        ]
        ax.bar(x + (i - (len(PIPELINES) - 1) / 2) * width, values, width, label=pipeline)
    target = report.get("targets", {}).get("accuracy", ACCURACY_TARGET)
    ax.axhline(target, color="black", linestyle="--", linewidth=1, label=f"target {target:.0%}")
    ax.set_xticks(x, [_tick(c, report) for c in conditions], rotation=30, ha="right")
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("accuracy (no_digit: refused or unsure)")
    ax.set_title(f"Accuracy on realistic uploads, {report.get('per_condition', '?')} per condition")
    ax.legend(loc="upper center", ncol=len(PIPELINES) + 1, fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _tick(condition: str, report: dict[str, Any]) -> str:
    served = report["results"].get(condition, {}).get(V2, {})
    return condition if served.get("digit_condition", True) else f"{condition}*"


def plot_previews(previews: Sequence[Preview], path: Path) -> Path:
    """A grid: each upload downscaled, next to the 28x28 images of mnist-norm-1 and -2."""
    plt = _pyplot()
    fig, axes = plt.subplots(len(previews), 3, figsize=(5.4, 1.8 * len(previews)), squeeze=False)
    for row, preview in zip(axes, previews, strict=True):
        label = "none" if preview.label is None else str(preview.label)
        _panel(row[0], preview.thumbnail, f"{preview.condition} ({label})")
        _panel(row[1], preview.v1, V1)
        _panel(row[2], preview.v2, V2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _panel(ax: Any, image: np.ndarray | None, title: str) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    if image is None:
        ax.set_facecolor("0.85")
        ax.text(0.5, 0.5, "refused", ha="center", va="center", transform=ax.transAxes)
        return
    gray = image.ndim == 2
    ax.imshow(image, cmap="gray" if gray else None, vmin=0, vmax=255, interpolation="nearest")
