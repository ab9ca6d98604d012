"""A short headless Locust run against a real service must pass its thresholds (what CI runs)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.stack import REPO, Server

pytestmark = [pytest.mark.slow, pytest.mark.integration, pytest.mark.timeout(240)]

DURATION_S = 30


@pytest.fixture(scope="module")
def finished_run(sqlite_service: Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loadtest")
    command = [
        sys.executable, "-m", "loadtests.run", "--host", sqlite_service.url,
        "--users", "8", "--spawn-rate", "4", "--duration", str(DURATION_S),
        "--max-failure-ratio", "0", "--max-p95-ms", "1500", "--max-p99-ms", "3000",
        "--min-accuracy", "0.95", "--out", str(out),
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    (out / "runner.log").write_text(completed.stdout + completed.stderr)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return out


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with (out / "locust_stats.csv").open(newline="") as handle:
        return {row["Name"]: row for row in csv.DictReader(handle)}


def test_every_threshold_passes_and_is_reported(finished_run: Path) -> None:
    result = json.loads((finished_run / "result.json").read_text())
    names = [check["name"] for check in result["checks"]]
    assert names == ["requests", "failure ratio", "p95", "p99", "accuracy"]
    assert all(check["passed"] for check in result["checks"])


def test_reports_are_written(finished_run: Path) -> None:
    for name in ("report.html", "locust_stats.csv", "locust_stats_history.csv", "loadtest.png"):
        assert (finished_run / name).stat().st_size > 0, name
    assert (finished_run / "loadtest.png").read_bytes().startswith(b"\x89PNG")


def test_traffic_mixes_predictions_batches_history_and_bad_uploads(finished_run: Path) -> None:
    rows = _rows(finished_run)
    for name in ("/predict", "/predict_batch", "/predictions", "/upload"):
        assert int(rows[name]["Request Count"]) > 0, name
    bad = [row for name, row in rows.items() if name.startswith("/predict [bad:")]
    assert bad, "no deliberately bad upload was sent"
    assert sum(int(row["Failure Count"]) for row in bad) == 0


def test_answers_are_checked_against_the_labels(finished_run: Path) -> None:
    summary = json.loads((finished_run / "accuracy.json").read_text())
    assert summary["predictions"] >= 50
    assert summary["accuracy"] >= 0.95
    ids = (finished_run / "accepted_ids.txt").read_text().split()
    assert len(ids) == len(set(ids)) == summary["accepted_ids"]
