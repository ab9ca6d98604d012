"""The per-stage CPU profile of a request: measured for real on a few corpus images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report
from benchmarks.results import Stage, Stages
from loadtests.stack import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Stages:
    """``python -m benchmarks.stages`` on 12 corpus images, as ``make bench`` runs it."""
    out: Path = tmp_path_factory.mktemp("stages") / "stages.json"
    argv = [sys.executable, "-m", "benchmarks.stages", "--corpus-size", "12", "--repeat", "1"]
    argv += ["--http-cpu-ms", "40", "--output", str(out)]
    subprocess.run(argv, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True,
                   timeout=600)  # fmt: skip
    return Stages.from_json(out.read_text())


def _cost(rows: list[Stage], starts: str) -> float:
    return next(row.cpu_ms for row in rows if row.name.startswith(starts))


def test_every_step_of_the_service_is_measured(measured: Stages) -> None:
    for step in ("decode", "preprocessing", "inference", "multipart", "answer as JSON"):
        assert _cost(measured.steps, step) > 0, step
    assert _cost(measured.recording, "record one prediction (SQLite)") > 0
    assert measured.corpus_size == 12


def test_the_app_in_process_costs_more_than_its_image_work(measured: Stages) -> None:
    app = _cost(measured.totals, "the service's ASGI app in-process")
    image_work = sum(_cost(measured.steps, s) for s in ("decode", "preprocessing", "inference"))
    assert app > image_work
    direct = sum(row.cpu_ms for row in measured.steps[:-1])
    assert measured.steps[-1].cpu_ms == pytest.approx(app - direct, abs=0.01)


def test_the_http_rows_take_the_benchmarks_figure(measured: Stages) -> None:
    app = _cost(measured.totals, "the service's ASGI app in-process")
    assert _cost(measured.totals, "server CPU per request over HTTP") == 40
    assert _cost(measured.totals, "HTTP server") == pytest.approx(40 - app, abs=0.01)


def test_the_table_lists_every_stage(measured: Stages) -> None:
    table = report.stages_table(measured)
    rows = measured.steps + measured.totals + measured.recording
    assert len(table.splitlines()) == 2 + len(rows)
    assert all(row.name in table for row in rows)
