"""A mistyped setting stops ``bentoml serve`` at once with a message naming it (settings.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
BENTOML = Path(sys.executable).with_name("bentoml")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DIGITS_CASSANDRA_CONSISTENCY", "LOCAL_QOURUM"),
        ("DIGITS_STORE_URL", "cassandra://db:90420/digits"),
        ("DIGITS_MAX_UPLOAD_BYTES", "16MB"),
    ],
)
def test_the_service_refuses_to_start_on_a_mistyped_setting(variable: str, value: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), variable: value}
    result = subprocess.run(
        [str(BENTOML), "serve", "service:DigitService", "--port", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    assert f"{variable}={value!r}" in result.stderr
    assert "Traceback" not in result.stderr
