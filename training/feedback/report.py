"""``reports/retrain/``: before/after per source, the corrections' confusion, the decision.

- ``report.json``: both tags, the decision with every check, accuracy per source (MNIST test,
  each realistic condition, held-out feedback) before and after, the feedback dataset's manifest
  and the run's training history;
- ``before_after.png``: accuracy per source, served model against candidate;
- ``corrections.png``: what the served model answered against the label users gave, over the
  feedback dataset (where the model goes wrong);
- ``decision.md``: the decision and its checks as a table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np

from training.evaluate import confusion_matrix
from training.feedback.dataset import FeedbackDataset
from training.feedback.gate import Decision, Scores
from training.report import plot_confusion
from training.store import StoredModel

REPORT_JSON = "report.json"
BEFORE_AFTER_PNG = "before_after.png"
CORRECTIONS_PNG = "corrections.png"
DECISION_MD = "decision.md"


def sources(scores: Scores) -> dict[str, float]:
    """Accuracy per source, in the order the report shows them."""
    return {
        "mnist_test": scores.mnist,
        **{f"realistic/{c}": v for c, v in scores.conditions.items()},
        "realistic_pooled": scores.pooled,
        "held_out_feedback": scores.feedback,
    }


def write_report(
    report_dir: Path,
    *,
    current: StoredModel,
    candidate: StoredModel,
    decision: Decision,
    scores: dict[str, Scores],
    dataset: FeedbackDataset,
    split: dict[str, int],
    training: dict[str, Any],
    promoted: bool,
) -> list[Path]:
    """Write the report files (replacing an earlier run's) and return their paths."""
    report_dir.mkdir(parents=True, exist_ok=True)
    before, after = sources(scores["current"]), sources(scores["candidate"])
    document = {
        "current": current.tag,
        "candidate": candidate.tag,
        "promoted": promoted,
        "decision": decision.to_dict(),
        "accuracy": {name: {"current": before[name], "candidate": after[name]} for name in before},
        "feedback_split": split,
        "feedback_dataset": dataset.manifest,
        "corrections_confusion": confusion_matrix(dataset.labels, dataset.answered).tolist(),
        "candidate_test_accuracy": candidate.metadata.get("test_accuracy"),
        "training": training,
    }
    json_path = report_dir / REPORT_JSON
    json_path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    markdown = report_dir / DECISION_MD
    markdown.write_text(decision_table(document))
    matrix = np.asarray(document["corrections_confusion"])
    return [
        json_path,
        markdown,
        plot_before_after(before, after, report_dir / BEFORE_AFTER_PNG, current.tag, candidate.tag),
        plot_confusion(
            matrix,
            report_dir / CORRECTIONS_PNG,
            "Feedback: what the served model answered",
            ("digit users labelled", "digit the model answered", "corrected answers"),
        ),
    ]


def decision_table(document: dict[str, Any]) -> str:
    """The decision as Markdown: verdict, then one row per check."""
    verdict = "promoted" if document["promoted"] else "not promoted"
    lines = [
        f"# Retraining: {document['candidate']} {verdict}",
        "",
        f"Served before: `{document['current']}`. Candidate: `{document['candidate']}`.",
        "",
        "| check | passed | served | candidate | detail |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for check in document["decision"]["checks"]:
        lines.append(
            f"| {check['name']} | {'yes' if check['passed'] else '**no**'} | "
            f"{100 * check['current']:.2f}% | {100 * check['candidate']:.2f}% | {check['detail']} |"
        )
    return "\n".join(lines) + "\n"


def plot_before_after(
    before: dict[str, float], after: dict[str, float], path: Path, current: str, candidate: str
) -> Path:
    """Grouped bars: accuracy per source, served model and candidate."""
    names = list(before)
    positions = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(8.0, 0.7 * len(names)), 4.5))
    ax.bar(positions - 0.2, [100 * before[n] for n in names], 0.4, label=f"served {current}")
    ax.bar(positions + 0.2, [100 * after[n] for n in names], 0.4, label=f"candidate {candidate}")
    ax.set_xticks(positions, names, rotation=45, ha="right")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Before and after retraining on feedback")
    ax.legend(loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
