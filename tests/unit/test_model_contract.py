"""The model's input contract (imaging/contract.py): numpy only, what the model expects."""

import ast
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from imaging import contract
from imaging.contract import (
    FIELD,
    IMAGE_SHAPE,
    INPUT_DTYPE,
    INPUT_LAYOUT,
    INPUT_SHAPE,
    KERAS_FILE,
    LITERT_FILE,
    to_model_input,
)
from training.store import ARCHIVE

ROOT = Path(__file__).resolve().parents[2]


def test_the_field_is_mnists() -> None:
    assert FIELD == 28
    assert IMAGE_SHAPE == (FIELD, FIELD)
    assert (*IMAGE_SHAPE, 1) == INPUT_SHAPE
    assert np.float32 == INPUT_DTYPE


def test_model_input_is_pixel_over_255_channels_last_float32() -> None:
    images = np.arange(3 * FIELD * FIELD, dtype=np.int64).reshape(3, *IMAGE_SHAPE) % 256
    x = to_model_input(images.astype(np.uint8))
    assert x.shape == (3, *INPUT_SHAPE)
    assert x.dtype == np.float32
    expected = images.astype(np.float32)[..., None] / np.float32(255.0)
    np.testing.assert_array_equal(x, expected)


def test_model_input_spans_zero_to_one_and_keeps_polarity() -> None:
    dark = np.zeros((1, *IMAGE_SHAPE), np.uint8)
    light = np.full((1, *IMAGE_SHAPE), 255, np.uint8)
    assert to_model_input(dark).max() == 0.0
    assert to_model_input(light).min() == 1.0  # light ink stays high: MNIST polarity


def test_an_empty_batch_keeps_the_layout() -> None:
    x = to_model_input(np.zeros((0, *IMAGE_SHAPE), np.uint8))
    assert x.shape == (0, *INPUT_SHAPE)
    assert x.dtype == np.float32


def _shipped(member: str) -> bytes:
    with tarfile.open(ARCHIVE) as archive:
        names = {name.removeprefix("./"): name for name in archive.getnames()}
        handle = archive.extractfile(names[member])
        assert handle is not None
        return handle.read()


def test_the_shipped_model_holds_the_contract_files_and_layout() -> None:
    with tarfile.open(ARCHIVE) as archive:
        files = {name.removeprefix("./") for name in archive.getnames()}
    assert {KERAS_FILE, LITERT_FILE} <= files
    metadata = yaml.safe_load(_shipped("model.yaml"))["metadata"]
    assert metadata["input"] == INPUT_LAYOUT


def test_the_contract_module_imports_only_numpy() -> None:
    imported = set()
    for node in ast.walk(ast.parse(Path(contract.__file__).read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "numpy"}


@pytest.mark.parametrize("module", ["imaging.contract", "serving.classifier"])
def test_importing_it_loads_no_tensorflow_or_keras(module: str) -> None:
    probe = (
        f"import sys, {module}; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'tf_keras') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_serving_scales_with_the_contract_function() -> None:
    from serving import classifier

    assert classifier.to_model_input is to_model_input
