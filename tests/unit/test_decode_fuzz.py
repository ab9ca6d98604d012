"""Mutation fuzz of the decoder: broken files raise only the documented exceptions.

``decode_image`` may raise :class:`ImageRejected` and nothing else; ``preprocess_bytes`` may
add :class:`BlankImage` (no digit). Any other exception would be a 500 in the service.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import Counter

import pytest

from imaging.decode import ImageRejected, decode_image
from imaging.normalize import BlankImage
from imaging.pipeline import preprocess_bytes
from tests.support import mutate

pytestmark = pytest.mark.slow

LIMIT = 40_000_000
MUTATORS = {
    "bit_flips",
    "byte_insertion",
    "byte_deletion",
    "truncation",
    "chunk_duplication",
    "length_corruption",
    "exif_corruption",
}


@pytest.fixture(scope="module")
def corpus() -> list[mutate.Mutant]:
    return list(mutate.mutants())


def _crashes(corpus: list[mutate.Mutant], step, documented: tuple[type, ...]) -> list[str]:
    crashes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about the corrupt EXIF it skips
        for mutant in corpus:
            try:
                step(mutant.data, LIMIT)
            except documented:
                pass
            except Exception as exc:
                crashes.append(f"{mutant.name}: {type(exc).__name__}: {exc}")
    return crashes


def test_the_corpus_is_large_deterministic_and_uses_every_mutator(
    corpus: list[mutate.Mutant],
) -> None:
    assert len(corpus) >= 5000
    assert {m.name.split("-")[0] for m in corpus} == {"png", "jpeg", "gif", "webp", "bmp"}
    used = Counter(name for m in corpus for name in m.name.split("-")[2].split("+"))
    assert set(used) >= MUTATORS
    again = hashlib.sha256(b"".join(m.data for m in mutate.mutants())).digest()
    assert hashlib.sha256(b"".join(m.data for m in corpus)).digest() == again


def test_every_seed_image_decodes_to_a_digit() -> None:
    for data, _ in mutate.seed_images().values():
        assert preprocess_bytes(data, LIMIT).pixels.shape == (28, 28)


def test_decode_image_raises_only_image_rejected(corpus: list[mutate.Mutant]) -> None:
    crashes = _crashes(corpus, decode_image, (ImageRejected,))
    assert not crashes, f"{len(crashes)} crashes, e.g.\n" + "\n".join(crashes[:20])


def test_preprocess_bytes_raises_only_image_rejected_or_blank_image(
    corpus: list[mutate.Mutant],
) -> None:
    crashes = _crashes(corpus, preprocess_bytes, (ImageRejected, BlankImage))
    assert not crashes, f"{len(crashes)} crashes, e.g.\n" + "\n".join(crashes[:20])


def test_the_fuzz_reaches_past_the_parsers(corpus: list[mutate.Mutant]) -> None:
    decoded = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mutant in corpus:
            try:
                decode_image(mutant.data, LIMIT)
                decoded += 1
            except ImageRejected:
                pass
    assert 0.1 * len(corpus) < decoded < 0.9 * len(corpus)
