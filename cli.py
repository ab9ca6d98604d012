"""What every command-line entry point of the project shares: one logging set-up.

``python -m storage.migrate``, ``storage.bootstrap``, ``training.*``, ``evaluation.run``,
``benchmarks.*`` and ``loadtests.*`` call :func:`setup_logging` first, so their lines look alike
(the service's own logging is BentoML's).
"""

from __future__ import annotations

import logging

#: ``2026-12-03 12:00:00,123 INFO storage.migrate: keyspace digits is up to date``
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: int | str = logging.INFO) -> None:
    """Log to standard error as ``time LEVEL logger: message`` from ``level`` up."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
