"""The promotion gate: a retrained candidate replaces the served model only if it is better.

Better means, against the served model on the same images through the same runtime:

- **MNIST test set**: no worse, within ``mnist_tolerance`` (0.05 points by default);
- **realistic evaluation sets** (``evaluation.sets``, rendered from MNIST test digits): no
  condition worse by more than ``condition_tolerance`` and, pooled over the conditions, no worse
  than ``pooled_tolerance``;
- **held-out feedback** (corrections the candidate never trained on): better by at least
  ``min_feedback_gain``, and significantly so: of the examples exactly one of the two models gets
  right, the candidate must win enough for a one-sided exact sign test at ``significance``.
  Random labels cannot pass this: a model cannot agree with them more than chance.

The rules are pure functions of the scores, so every decision is reproducible from the report.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import comb
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Rules:
    """The gate's thresholds (accuracy as a fraction: 0.0005 is 0.05 points)."""

    mnist_tolerance: float = 0.0005
    condition_tolerance: float = 0.01
    pooled_tolerance: float = 0.0025
    min_feedback_gain: float = 0.05
    significance: float = 0.01


@dataclass(frozen=True)
class Scores:
    """One model's results on the gate's sets.

    Attributes:
        mnist: Accuracy on the MNIST test set.
        conditions: Accuracy per realistic condition.
        pooled: Accuracy over all realistic images together.
        feedback_right: Per held-out feedback example, whether the model agrees with the label.
    """

    mnist: float
    conditions: dict[str, float]
    pooled: float
    feedback_right: np.ndarray

    @property
    def feedback(self) -> float:
        """Accuracy on the held-out feedback (0 without any)."""
        return float(self.feedback_right.mean()) if len(self.feedback_right) else 0.0


@dataclass(frozen=True)
class Check:
    """One rule, its measured values and whether the candidate passed it."""

    name: str
    passed: bool
    current: float
    candidate: float
    detail: str


@dataclass(frozen=True)
class Decision:
    """Promote or not, and every check behind it."""

    promote: bool
    checks: list[Check] = field(default_factory=list)

    @property
    def reasons(self) -> list[str]:
        """The failed checks, in words (empty when promoted)."""
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the report."""
        return {
            "promote": self.promote,
            "reasons": self.reasons,
            "checks": [asdict(c) for c in self.checks],
        }


def sign_test_p(wins: int, losses: int) -> float:
    """One-sided exact sign test: P(at least ``wins`` of ``wins + losses`` fair coin flips)."""
    n = wins + losses
    if n == 0:
        return 1.0
    return sum(comb(n, k) for k in range(wins, n + 1)) / 2**n


def decide(current: Scores, candidate: Scores, rules: Rules = Rules()) -> Decision:
    """Apply the rules; the candidate is promoted only when every check passes."""
    checks = [_not_worse("mnist_test", current.mnist, candidate.mnist, rules.mnist_tolerance)]
    for condition in sorted(current.conditions):
        before, after = current.conditions[condition], candidate.conditions[condition]
        checks.append(
            _not_worse(f"realistic/{condition}", before, after, rules.condition_tolerance)
        )
    checks.append(
        _not_worse("realistic_pooled", current.pooled, candidate.pooled, rules.pooled_tolerance)
    )
    checks.append(_better_on_feedback(current, candidate, rules))
    return Decision(all(c.passed for c in checks), checks)


def _not_worse(name: str, current: float, candidate: float, tolerance: float) -> Check:
    passed = candidate >= current - tolerance - 1e-12
    detail = (
        f"{100 * candidate:.2f}% vs {100 * current:.2f}% "
        f"({100 * (candidate - current):+.2f} points, at most {100 * tolerance:.2f} worse allowed)"
    )
    return Check(name, passed, current, candidate, detail)


def _better_on_feedback(current: Scores, candidate: Scores, rules: Rules) -> Check:
    held = len(current.feedback_right)
    if held == 0:
        return Check("held_out_feedback", False, 0.0, 0.0, "no held-out feedback to judge by")
    wins = int((candidate.feedback_right & ~current.feedback_right).sum())
    losses = int((current.feedback_right & ~candidate.feedback_right).sum())
    p = sign_test_p(wins, losses)
    gain = candidate.feedback - current.feedback
    passed = gain >= rules.min_feedback_gain and p <= rules.significance
    detail = (
        f"{100 * candidate.feedback:.1f}% vs {100 * current.feedback:.1f}% of {held} held-out "
        f"corrections ({100 * gain:+.1f} points, at least {100 * rules.min_feedback_gain:.1f} "
        f"needed); fixed {wins}, broke {losses}: sign test p = {p:.2g} "
        f"(at most {rules.significance:g})"
    )
    return Check("held_out_feedback", passed, current.feedback, candidate.feedback, detail)
