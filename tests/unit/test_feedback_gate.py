"""The promotion gate: a candidate is promoted only if better on feedback and no worse elsewhere."""

from __future__ import annotations

import numpy as np
import pytest

from training.feedback.gate import Rules, Scores, decide, sign_test_p

CONDITIONS = {"ruled": 0.97, "squared": 0.96, "pencil": 0.95}


def scores(
    mnist: float = 0.995,
    conditions: dict[str, float] | None = None,
    right: int = 0,
    held: int = 60,
) -> Scores:
    found = dict(CONDITIONS if conditions is None else conditions)
    feedback = np.zeros(held, bool)
    feedback[:right] = True
    return Scores(mnist, found, float(np.mean(list(found.values()))), feedback)


def failed(current: Scores, candidate: Scores) -> list[str]:
    return [c.name for c in decide(current, candidate).checks if not c.passed]


def test_better_on_feedback_and_as_good_elsewhere_is_promoted() -> None:
    decision = decide(scores(right=0), scores(mnist=0.9948, right=30))
    assert decision.promote
    assert decision.reasons == []


def test_losing_more_than_five_hundredths_of_a_point_on_mnist_is_refused() -> None:
    assert failed(scores(), scores(mnist=0.9944, right=30)) == ["mnist_test"]


def test_a_realistic_condition_that_drops_more_than_a_point_is_refused() -> None:
    worse = {**CONDITIONS, "pencil": 0.93}
    assert "realistic/pencil" in failed(scores(), scores(conditions=worse, right=30))


def test_no_gain_on_the_held_out_feedback_is_refused() -> None:
    decision = decide(scores(right=10), scores(right=10))
    assert not decision.promote
    assert [r.split(":")[0] for r in decision.reasons] == ["held_out_feedback"]


def test_a_gain_that_chance_explains_is_refused() -> None:
    # 10% of 60 right (random labels) against 15%: 3 more, well within chance.
    assert failed(scores(right=6), scores(right=9)) == ["held_out_feedback"]


def test_a_small_but_significant_gain_below_the_minimum_is_refused() -> None:
    rules = Rules(min_feedback_gain=0.5)
    assert not decide(scores(right=0), scores(right=20), rules).promote


def test_without_held_out_feedback_nothing_is_promoted() -> None:
    assert not decide(scores(held=0), scores(held=0)).promote


@pytest.mark.parametrize(
    ("wins", "losses", "p"),
    [(0, 0, 1.0), (1, 0, 0.5), (5, 0, 1 / 32), (3, 3, 0.65625), (0, 4, 1.0)],
)
def test_the_sign_test_is_the_binomial_tail(wins: int, losses: int, p: float) -> None:
    assert sign_test_p(wins, losses) == pytest.approx(p)


def test_every_check_says_what_was_measured() -> None:
    decision = decide(scores(mnist=0.9951), scores(mnist=0.9930, right=30))
    detail = {c.name: c.detail for c in decision.checks}["mnist_test"]
    assert "99.30% vs 99.51%" in detail
    assert "-0.21 points" in detail
    assert decision.to_dict()["promote"] is False
