"""Realistic upload traffic made from real MNIST test digits.

Each sample is one MNIST test digit (never seen in training) rendered the way users send them:

- ``mnist``: the 28x28 original as a grayscale PNG;
- ``scaled``: enlarged to 56-224 px, PNG or JPEG, still light ink on black;
- ``paper``: dark ink on tinted paper, 300-640 px, off-centre, a noisy JPEG or a clean PNG;
- ``photo``: a phone-photo-like 1000-1600 px RGB JPEG with uneven light and sensor noise.

The corpus is deterministic for a (size, seed) pair and cached as files plus a manifest, so the
load tests and every benchmark phase send exactly the same bytes.

Usage: ``python -m loadtests.corpus --size 400 --out var/loadtests``
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from cli import setup_logging

log = logging.getLogger(__name__)

CORPUS_VERSION = 1
STYLES: dict[str, float] = {"mnist": 0.30, "scaled": 0.30, "paper": 0.25, "photo": 0.15}
DEFAULT_ROOT = Path("var/loadtests")


@dataclass(frozen=True, slots=True)
class Sample:
    """One encoded upload and the digit it shows."""

    label: int
    filename: str
    content_type: str
    style: str
    data: bytes


def load_corpus(size: int = 400, seed: int = 7, root: Path = DEFAULT_ROOT) -> list[Sample]:
    """The corpus for (size, seed), built and cached under ``root`` on first use.

    Args:
        size: Number of samples.
        seed: Seed for the choice of digits and of their renderings.
        root: Cache directory.
    """
    directory = corpus_dir(size, seed, root)
    if not (directory / "manifest.json").exists():
        write_corpus(build_corpus(size, seed), directory)
    return read_corpus(directory)


def corpus_dir(size: int, seed: int, root: Path = DEFAULT_ROOT) -> Path:
    """Where the corpus for (size, seed) is cached."""
    return root / f"corpus-v{CORPUS_VERSION}-n{size}-s{seed}"


def build_corpus(size: int, seed: int) -> list[Sample]:
    """Render ``size`` MNIST test digits in a mix of styles (see the module docstring)."""
    images, labels = mnist_test_digits()
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(labels), size=size, replace=False)
    styles = rng.choice(list(STYLES), size=size, p=list(STYLES.values()))
    log.info("rendering %d MNIST test digits as uploads", size)
    return [
        render(images[i], int(labels[i]), str(style), rng, index)
        for index, (i, style) in enumerate(zip(picks, styles, strict=True))
    ]


def mnist_test_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 10,000 MNIST test images (uint8 [N, 28, 28]) and labels, via ``training.data``."""
    from settings import load_settings
    from training.data import load_mnist

    data = load_mnist(load_settings())
    return data.x_test, data.y_test.astype(np.int64)


def render(
    digit: np.ndarray, label: int, style: str, rng: np.random.Generator, index: int
) -> Sample:
    """Encode one 28x28 digit in the given style."""
    if style == "mnist":
        return _encode(Image.fromarray(digit, "L"), label, style, index, "png")
    if style == "scaled":
        side = int(rng.choice([56, 84, 112, 168, 224]))
        image = Image.fromarray(digit, "L").resize((side, side), Image.Resampling.BILINEAR)
        return _encode(image, label, style, index, str(rng.choice(["png", "jpeg"])))
    if style == "paper":
        side = int(rng.integers(300, 641))
        fmt = str(rng.choice(["jpeg", "png"], p=[0.7, 0.3]))
        # A PNG is a clean scan or drawing (noise would make it ~0.5 MB); a JPEG is a photo.
        noise = 3.0 if fmt == "jpeg" else 0.0
        image = _on_paper(digit, (side, side), rng, light_falloff=0.0, noise=noise)
        return _encode(image, label, style, index, fmt)
    width = int(rng.integers(1000, 1601))
    image = _on_paper(digit, (width, width * 3 // 4), rng, light_falloff=0.25, noise=6.0)
    return _encode(image, label, style, index, "jpeg")


def _on_paper(
    digit: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    light_falloff: float,
    noise: float,
) -> Image.Image:
    """Dark ink of ``digit`` on a tinted sheet of ``size`` (w, h), off-centre, with noise."""
    width, height = size
    ink_side = int(min(width, height) * rng.uniform(0.45, 0.75))
    ink = Image.fromarray(digit, "L").resize((ink_side, ink_side), Image.Resampling.BICUBIC)
    alpha = np.zeros((height, width), dtype=np.float32)
    top = int(rng.integers(0, height - ink_side + 1))
    left = int(rng.integers(0, width - ink_side + 1))
    alpha[top : top + ink_side, left : left + ink_side] = np.asarray(ink, np.float32) / 255.0
    paper = rng.uniform(205, 250, size=3).astype(np.float32)
    pen = rng.uniform(10, 60, size=3).astype(np.float32)
    light = 1.0 - light_falloff * np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    sheet = paper[None, None, :] * light[..., None]
    pixels = sheet * (1.0 - alpha[..., None]) + pen[None, None, :] * alpha[..., None]
    if noise:
        pixels += rng.normal(0.0, noise, size=pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _encode(image: Image.Image, label: int, style: str, index: int, fmt: str) -> Sample:
    buffer = io.BytesIO()
    if fmt == "jpeg":
        image.save(buffer, "JPEG", quality=88)
    else:
        image.save(buffer, "PNG", optimize=False)
    ext = "jpg" if fmt == "jpeg" else "png"
    return Sample(
        label=label,
        filename=f"{index:04d}-{style}-{image.width}x{image.height}.{ext}",
        content_type=f"image/{fmt}",
        style=style,
        data=buffer.getvalue(),
    )


def write_corpus(samples: list[Sample], directory: Path) -> None:
    """Write the samples and a ``manifest.json`` into ``directory`` (atomically by rename)."""
    staging = directory.with_name(directory.name + ".tmp")
    staging.mkdir(parents=True, exist_ok=True)
    manifest = []
    for sample in samples:
        (staging / sample.filename).write_bytes(sample.data)
        manifest.append(
            {
                "file": sample.filename,
                "label": sample.label,
                "content_type": sample.content_type,
                "style": sample.style,
            }
        )
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if directory.exists():
        return
    staging.rename(directory)
    log.info("corpus of %d uploads written to %s", len(samples), directory)


def read_corpus(directory: Path) -> list[Sample]:
    """Read a corpus written by :func:`write_corpus`."""
    manifest = json.loads((directory / "manifest.json").read_text())
    return [
        Sample(
            label=int(entry["label"]),
            filename=entry["file"],
            content_type=entry["content_type"],
            style=entry["style"],
            data=(directory / entry["file"]).read_bytes(),
        )
        for entry in manifest
    ]


def describe(samples: list[Sample]) -> str:
    """One line: how many samples of each style and their total size."""
    counts = {style: sum(s.style == style for s in samples) for style in STYLES}
    total = sum(len(s.data) for s in samples)
    parts = ", ".join(f"{n} {style}" for style, n in counts.items())
    return f"{len(samples)} uploads ({parts}), {total / 1e6:.1f} MB"


def main() -> None:
    """Build (or reuse) a corpus and print where it is."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args()
    setup_logging()
    samples = load_corpus(args.size, args.seed, args.out)
    print(f"{corpus_dir(args.size, args.seed, args.out)}: {describe(samples)}")


if __name__ == "__main__":
    main()
