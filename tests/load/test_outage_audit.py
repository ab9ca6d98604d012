"""The outage scenario's audit: every accepted id exactly once, nothing else but legacy answers."""

from __future__ import annotations

import pytest

from loadtests.outage import audit

ACCEPTED = {"a", "b", "c"}


@pytest.mark.parametrize(
    ("rows", "legacy", "exact", "counts"),
    [
        (["a", "b", "c"], 0, True, (0, 0, 0)),
        (["c", "a", "b", "x", "y"], 2, True, (0, 0, 2)),
        (["a", "b"], 0, False, (1, 0, 0)),
        (["a", "b", "c", "c"], 0, False, (0, 1, 0)),
        (["a", "b", "c", "x"], 0, False, (0, 0, 1)),
        (["a", "b", "c"], 1, False, (0, 0, 0)),
    ],
    ids=["exact", "legacy-rows", "missing", "duplicated", "unexpected", "legacy-missing"],
)
def test_audit_counts_missing_duplicated_and_unexpected_ids(
    rows: list[str], legacy: int, exact: bool, counts: tuple[int, int, int]
) -> None:
    result = audit(ACCEPTED, "predictions", rows)
    assert (result.missing, result.duplicated, result.unexpected) == counts
    assert result.rows == len(rows)
    assert result.exact(legacy) is exact
