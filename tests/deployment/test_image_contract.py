"""The HTTP suites run against the service image as it ships, not only against ``bentoml serve``.

Every integration test module whose server is the session's ``served`` fixture (the API contract,
hostile uploads, no 500 for any input, recording, real-paper robustness, the schemathesis fuzz)
runs again in a child pytest with ``DIGITS_TEST_IMAGE`` set: the fixture then starts the image
(read-only root file system, its own user, SQLite store on a mounted directory) instead of
``bentoml serve``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.deployment.compose_stack import ROOT, docker_engine, stream
from tests.support.server import IMAGE_VARIABLE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IMAGE = os.environ.get("DIGITS_IMAGE", "digits-service:latest")
#: The integration modules served by the session's ``served`` fixture (the others start servers
#: of their own, with settings or wrappers of their own).
SERVED_SUITES = [
    "tests/integration/test_api_contract.py",
    "tests/integration/test_hostile_uploads.py",
    "tests/integration/test_no_500.py",
    "tests/integration/test_recording.py",
    "tests/integration/test_robustness.py",
    "tests/integration/test_openapi_fuzz.py",
]


def test_the_served_http_suites_pass_against_the_shipped_image() -> None:
    with docker_engine():
        stream(["docker/build-images.sh", "--missing", "service"], timeout=2400)
        env = {**os.environ, IMAGE_VARIABLE: IMAGE}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SERVED_SUITES]
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600
        )
    print(result.stdout[-3000:], flush=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]
