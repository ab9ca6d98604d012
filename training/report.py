"""The evaluation report of a training run: report.json and two charts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np

REPORT_JSON = "report.json"
CONFUSION_PNG = "confusion_matrix.png"
CURVES_PNG = "training_curves.png"


def write_report(
    report_dir: Path,
    metadata: dict[str, Any],
    confusion: list[list[int]],
    history: dict[str, list[float]],
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ``report.json``, ``confusion_matrix.png`` and ``training_curves.png``.

    Args:
        report_dir: Created if missing; existing report files are replaced.
        metadata: The model metadata (copied into the JSON as is).
        confusion: [true][predicted] counts on the test set.
        history: Keras history: metric name -> one value per epoch.
        extra: More top-level JSON fields (e.g. the stored tag).

    Returns:
        The paths written.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    document = {**(extra or {}), "metadata": metadata, "confusion_matrix": confusion}
    document["history"] = {key: [float(v) for v in values] for key, values in history.items()}
    json_path = report_dir / REPORT_JSON
    json_path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return [
        json_path,
        plot_confusion(np.asarray(confusion), report_dir / CONFUSION_PNG),
        plot_curves(history, report_dir / CURVES_PNG),
    ]


def plot_confusion(
    matrix: np.ndarray,
    path: Path,
    title: str = "Test set confusion matrix",
    labels: tuple[str, str, str] = ("true digit", "predicted digit", "misclassified test images"),
) -> Path:
    """Confusion matrix with counts; the diagonal is hidden from the colour scale so errors show.

    ``labels`` name the rows, the columns and the colour scale.
    """
    errors = matrix.astype(float).copy()
    np.fill_diagonal(errors, np.nan)
    fig, ax = plt.subplots(figsize=(7, 6))
    image = ax.imshow(errors, cmap="Reds")
    fig.colorbar(image, ax=ax, label=labels[2])
    for (true, pred), count in np.ndenumerate(matrix):
        if count:
            weight = "bold" if true == pred else "normal"
            ax.text(pred, true, str(count), ha="center", va="center", fontsize=8, weight=weight)
    ticks = range(matrix.shape[0])
    ax.set(xticks=ticks, yticks=ticks, xlabel=labels[1], ylabel=labels[0])
    accuracy = matrix.trace() / max(1, matrix.sum())
    ax.set_title(f"{title} (accuracy {accuracy:.2%})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(history: dict[str, list[float]], path: Path) -> Path:
    """Loss and accuracy per epoch, training (augmented) against the validation split."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(11, 4))
    epochs = range(1, len(history.get("loss", [])) + 1)
    for key, label in (("loss", "training (augmented)"), ("val_loss", "validation")):
        if key in history:
            loss_ax.plot(epochs, history[key], marker="o", label=label)
    for key, label in (("accuracy", "training (augmented)"), ("val_accuracy", "validation")):
        if key in history:
            acc_ax.plot(epochs, history[key], marker="o", label=label)
    loss_ax.set(title="Loss", xlabel="epoch", yscale="log")
    acc_ax.set(title="Accuracy", xlabel="epoch")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
