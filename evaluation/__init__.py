"""Realistic evaluation of the digit service: uploads as users make them, three pipelines.

- :mod:`evaluation.sets`: reproducible sets of rendered uploads per condition (ruled paper,
  shadows, phone photos, canvas drawings, no digit at all...), digits from the MNIST test split.
- :mod:`evaluation.run`: scores the naive student pipeline, ``mnist-norm-1`` and the served
  ``mnist-norm-2`` (over HTTP) on every condition, and times the preprocessing stages.
- :mod:`evaluation.report`: the metrics and ``report.json``, ``table.md`` and two charts.

Run it with ``make evaluate`` (or ``python -m evaluation.run --help``).
"""
