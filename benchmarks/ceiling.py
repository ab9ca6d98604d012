"""The ceiling: decoding, normalisation and batched inference in-process, no HTTP, no storage.

One worker process per core, each with one TensorFlow thread, loops over the corpus in batches
for a fixed time; the sum of their rates is what the hardware can do with this model and this
preprocessing. A single-process breakdown (milliseconds per image per stage) comes with it.

Usage: python -m benchmarks.ceiling --duration 10
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from benchmarks.results import CEILING_S, CORPUS_SIZE, Ceiling
from loadtests.corpus import load_corpus

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

    from bentoml import Model

    from serving.classifier import Classifier

BATCH = 64


def served_model() -> Model:
    """The served model in the BentoML store (settings' name and version)."""
    import bentoml

    from serving.model_choice import served_tag
    from settings import load_settings

    settings = load_settings()
    return bentoml.models.get(served_tag(settings.model_name, settings.model_version))


def model_dir() -> Path:
    """Directory of the served model in the BentoML store."""
    return Path(served_model().path)


def _classifier(threads: int) -> Classifier:
    from serving.classifier import Classifier

    directory = model_dir()
    return Classifier(directory, directory.name, threads=threads)


def _preprocess(data: bytes) -> np.ndarray:
    from imaging.pipeline import preprocess_bytes

    return preprocess_bytes(data, max_pixels=40_000_000).pixels


def _worker(duration: float, corpus_size: int, start: Barrier, results: mp.Queue) -> None:
    corpus = [s.data for s in load_corpus(corpus_size)]
    classifier = _classifier(threads=1)
    start.wait()  # all workers measure the same window
    ready = time.perf_counter()
    images = 0
    position = 0
    while time.perf_counter() - ready < duration:
        batch = [corpus[(position + i) % len(corpus)] for i in range(BATCH)]
        position += BATCH
        classifier.predict(np.stack([_preprocess(data) for data in batch]))
        images += BATCH
    results.put(images / (time.perf_counter() - ready))


def breakdown(corpus_size: int) -> tuple[float, float, float]:
    """Single process, CPU time: preprocess ms/image, batched inference ms/image, batch of one.

    CPU time (not wall time) so that other load on the machine does not inflate it.
    """
    corpus = [s.data for s in load_corpus(corpus_size)]
    classifier = _classifier(threads=1)
    start = time.process_time()
    pixels = np.stack([_preprocess(data) for data in corpus])
    preprocess = (time.process_time() - start) * 1000 / len(corpus)
    classifier.predict(pixels[:BATCH])
    start = time.process_time()
    for offset in range(0, len(pixels) - BATCH + 1, BATCH):
        classifier.predict(pixels[offset : offset + BATCH])
    batches = len(pixels) // BATCH
    batched = (time.process_time() - start) * 1000 / (batches * BATCH)
    start = time.process_time()
    for index in range(50):
        classifier.predict(pixels[index : index + 1])
    single = (time.process_time() - start) * 1000 / 50
    return preprocess, batched, single


def measure(
    duration: float = CEILING_S, corpus_size: int = CORPUS_SIZE, processes: int | None = None
) -> Ceiling:
    """Run the ceiling: ``processes`` workers (one per core by default) for ``duration`` s."""
    processes = processes or len(os.sched_getaffinity(0))
    load_corpus(corpus_size)  # build the cache once, before the workers read it
    context = mp.get_context("spawn")
    results: mp.Queue = context.Queue()
    start = context.Barrier(processes)
    workers = [
        context.Process(target=_worker, args=(duration, corpus_size, start, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    rates = [results.get(timeout=duration + 300) for _ in workers]
    for worker in workers:
        worker.join()
    preprocess, batched, single = breakdown(corpus_size)
    return Ceiling(
        processes=processes,
        batch=BATCH,
        images_per_s=round(sum(rates), 1),
        preprocess_ms_per_image=round(preprocess, 3),
        inference_ms_per_image_batched=round(batched, 4),
        inference_ms_single=round(single, 3),
        cpu_bound_images_per_s=round(processes * 1000 / (preprocess + batched), 1),
    )


def main() -> None:
    """Print the ceiling as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=CEILING_S)
    parser.add_argument("--corpus-size", type=int, default=CORPUS_SIZE)
    parser.add_argument("--processes", type=int)
    args = parser.parse_args()
    print(measure(args.duration, args.corpus_size, args.processes).to_json())


if __name__ == "__main__":
    main()
