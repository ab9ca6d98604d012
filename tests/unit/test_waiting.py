"""devtools.waiting.wait_until: the one polling helper of the tools and tests."""

from __future__ import annotations

import itertools

import pytest

from devtools.waiting import wait_until


def test_it_returns_once_the_condition_holds_and_says_how_long_it_took() -> None:
    calls = itertools.count(1)
    took = wait_until(lambda: next(calls) >= 3, timeout=5, what="three calls", every=0.01)
    assert next(calls) == 4  # called exactly three times
    assert 0.015 <= took < 5


def test_a_condition_that_never_holds_times_out_naming_what_and_the_detail() -> None:
    with pytest.raises(TimeoutError, match=r"the spool to drain: not within 0 s: 7 records left"):
        wait_until(lambda: False, 0.05, "the spool to drain", 0.01, detail=lambda: "7 records left")


def test_an_exception_from_the_condition_ends_the_wait_at_once() -> None:
    calls = []

    def died() -> bool:
        calls.append(1)
        raise RuntimeError("server exited with 1")

    with pytest.raises(RuntimeError, match="exited"):
        wait_until(died, timeout=30, what="the server")
    assert len(calls) == 1


def test_progress_is_reported_while_waiting_at_most_every_report_interval() -> None:
    reports: list[float] = []
    calls = itertools.count(1)
    wait_until(
        lambda: next(calls) > 20, 5, "twenty calls", 0.01, on_wait=reports.append, report_every=0.05
    )
    assert 1 <= len(reports) <= 6
    assert reports == sorted(reports)
