"""Waiting for something to become true: the one polling helper of the tools and tests.

The service's own retries use tenacity directly (storage/); the launchers, load tests,
benchmarks and tests wait through :func:`wait_until`, which is tenacity too.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_result,
    stop_after_delay,
    wait_fixed,
)


def wait_until(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    every: float = 0.5,
    on_wait: Callable[[float], None] | None = None,
    report_every: float = 10.0,
    detail: Callable[[], str] | None = None,
) -> float:
    """Call ``condition`` every ``every`` seconds until it returns something true.

    An exception ``condition`` raises ends the wait at once (a server that died need not be
    waited for). ``on_wait(elapsed)`` is called at most every ``report_every`` seconds while
    waiting (progress lines).

    Returns:
        The seconds it took.

    Raises:
        TimeoutError: ``what`` did not come true within ``timeout`` seconds; the message adds
            ``detail()`` when given (the last answer, a log tail).
    """
    started = time.monotonic()
    reported = started

    def waiting(_state: RetryCallState) -> None:
        nonlocal reported
        now = time.monotonic()
        if on_wait is not None and now - reported >= report_every:
            reported = now
            on_wait(now - started)

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(every),
        retry=retry_if_result(lambda result: not result),
        before_sleep=waiting,
    )
    try:
        retrying(condition)
    except RetryError:
        extra = f": {detail()}" if detail is not None else ""
        raise TimeoutError(f"{what}: not within {timeout:.0f} s{extra}") from None
    return time.monotonic() - started
