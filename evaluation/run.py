"""Score three preprocessing pipelines on realistic uploads, condition by condition.

For every condition of :mod:`training.paper` (``--per-condition`` uploads each, digits from the
MNIST test split only, seed :data:`evaluation.sets.EVAL_SEED`):

- ``naive``: the original student pipeline (Pillow, gray, the whole image resized to 28x28,
  inverted when its median is light), classified in-process by the served model;
- ``mnist-norm-1``: ``decode_image`` + ``PIPELINES["mnist-norm-1"]`` + the served model, in-process
  (no digit found counts as refused);
- ``mnist-norm-2``: ``POST /predict`` on a real ``bentoml serve`` (started here on a free port
  unless ``--url`` is given) from ``--clients`` concurrent threads, latency measured per request
  on the client (and on the server when the response carries a ``Server-Timing`` header).

Each condition's uploads are rendered once into a temporary directory, so that the three
pipelines see the same bytes, no rendering runs while requests are timed, and 300 photos of
12 MP never sit in memory together; they are deleted once scored. Before that, the cost of each
preprocessing stage is timed in-process on a small PNG, a canvas drawing and a phone photo.

Usage::

    make evaluate                                   # 12 conditions x 300, its own server
    python -m evaluation.run --per-condition 30 --conditions clean,ruled,no_digit
    python -m evaluation.run --url http://127.0.0.1:3000 --clients 4

Writes ``report.json``, ``table.md``, ``accuracy.png`` and ``preview.png`` to ``--report-dir``.
Exit status: 0 when every ``mnist-norm-2`` target is met, 1 when one is missed (the report is
written either way), 2 when the evaluation could not run (no model, server not starting).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from cli import setup_logging
from evaluation.report import (
    NAIVE,
    V1,
    V2,
    Outcome,
    Preview,
    check_targets,
    markdown_table,
    percent,
    share,
    summarize,
    write_report,
)
from evaluation.sets import (
    DEFAULT_PER_CONDITION,
    EVAL_SEED,
    Draw,
    Sample,
    check_condition,
    extension,
    is_digit_condition,
    plan_set,
    test_split,
)
from imaging.contract import FIELD
from imaging.decode import ImageRejected, decode_image
from imaging.normalize import BlankImage, center_by_mass, fit_box, flatten_alpha, thicken_strokes
from imaging.paper import ink_darkness, remove_printed_lines, to_luma
from imaging.pipeline import (
    DRAFT_SIDE,
    PREPROCESSING_VERSION,
    dark_on_light,
    preprocess_bytes,
    stretch,
    work_array,
)
from imaging.strokes import digit_region
from loadtests.stack import ServerError, bentoml_server, free_port, running
from serving.model_choice import served_tag
from settings import Settings, load_settings
from training.paper import CONDITIONS

log = logging.getLogger("evaluation")

DEFAULT_REPORT_DIR = Path("reports/evaluation")
#: The model the version-1 service served, shipped for the side-by-side columns.
BASELINE_MODEL = Path("models/baseline-mnist-norm-1")
DEFAULT_CLIENTS = 3
#: The inputs whose preprocessing is timed stage by stage, and how often each stage runs.
STAGE_INPUTS = ("clean", "canvas", "phone_12mp")
STAGE_RUNS = 30
#: Uploads tried, in set order, to find one the pipeline reads through to the end.
STAGE_CANDIDATES = 10
#: Uploads sent (and not scored) before the first condition, so no request pays start-up costs.
WARM_UP_REQUESTS = 4
REQUEST_TIMEOUT_S = 120.0
#: Upload limit of the server started here (phone photos are several MB).
MAX_UPLOAD_BYTES = 16 * 1024 * 1024
#: Threads that render and preprocess in-process (the machine's cores).
WORKERS = max(2, os.cpu_count() or 2)
PREDICT_BATCH = 256
THUMBNAIL_SIDE = 160
PROGRESS_EVERY = 100
MAX_ERROR_TEXT = 60


@dataclass(frozen=True)
class ServedModel:
    """The model the service serves, loaded in this process for the in-process pipelines.

    Attributes:
        tag: Its BentoML tag.
        classifier: A :class:`serving.classifier.Classifier`.
        threshold: Confidence at or above which an answer is sure.
        temperature: Calibration temperature applied (1.0: none).
    """

    tag: str
    classifier: Any
    threshold: float
    temperature: float


@dataclass(frozen=True, slots=True)
class StoredSample:
    """A rendered upload waiting on disk to be scored."""

    path: Path
    content_type: str
    label: int | None
    condition: str

    def read(self) -> bytes:
        """The upload's bytes."""
        return self.path.read_bytes()


@dataclass(frozen=True, slots=True)
class Prepared:
    """One upload after an in-process pipeline: the 28x28 pixels, or why there are none."""

    pixels: np.ndarray | None = None
    refused: bool = False
    error: str | None = None


# --- the served model --------------------------------------------------------------------


def load_served_model(settings: Settings) -> ServedModel:
    """Load the model the service would serve, with its threshold and calibration.

    Raises:
        bentoml.exceptions.NotFound: the store has no such model.
    """
    import bentoml

    from serving.classifier import Classifier, model_temperature, sure_threshold

    model = bentoml.models.get(served_tag(settings.model_name, settings.model_version))
    metadata = model.info.metadata
    threshold = sure_threshold(settings, metadata)
    temperature = model_temperature(metadata)
    classifier = Classifier(model.path, str(model.tag), settings.inference_threads, temperature)
    return ServedModel(str(model.tag), classifier, threshold, temperature)


def load_baseline_model(directory: Path, settings: Settings) -> ServedModel:
    """The model of the landed version-1 service (``model.keras`` in ``directory``).

    As that service did: no calibration, `sure` from the setting or 0.6.
    """
    from serving.classifier import sure_threshold
    from training.keras_classifier import KerasClassifier

    classifier = KerasClassifier(directory, f"baseline:{directory.name}")
    return ServedModel(f"baseline:{directory.name}", classifier, sure_threshold(settings, {}), 1.0)


def classify(
    model: ServedModel, prepared: Sequence[Prepared], labels: Sequence[int | None]
) -> list[Outcome]:
    """Classify the prepared images in batches; refusals and errors pass through."""
    usable = [i for i, p in enumerate(prepared) if p.pixels is not None]
    probabilities: dict[int, np.ndarray] = {}
    for start in range(0, len(usable), PREDICT_BATCH):
        batch = usable[start : start + PREDICT_BATCH]
        pixels = np.stack([prepared[i].pixels for i in batch])  # type: ignore[misc]
        probabilities.update(zip(batch, model.classifier.predict(pixels), strict=True))
    return [
        _outcome(label, item, probabilities.get(i), model.threshold)
        for i, (label, item) in enumerate(zip(labels, prepared, strict=True))
    ]


def _outcome(
    label: int | None, prepared: Prepared, probs: np.ndarray | None, threshold: float
) -> Outcome:
    if probs is None:
        return Outcome(label=label, refused=prepared.refused, error=prepared.error)
    digit = int(np.argmax(probs))
    confidence = float(probs[digit])
    return Outcome(label=label, digit=digit, confidence=confidence, sure=confidence >= threshold)


# --- the in-process pipelines ------------------------------------------------------------


def naive_pixels(data: bytes) -> np.ndarray:
    """The original student pipeline: gray, whole image to 28x28, light-on-dark if needed."""
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("L").resize((FIELD, FIELD), Image.Resampling.BILINEAR)
    pixels = np.asarray(small, dtype=np.uint8)
    return 255 - pixels if np.median(pixels) > 127 else pixels


def v1_pixels(data: bytes, content_type: str, max_pixels: int) -> np.ndarray:
    """``mnist-norm-1`` as the version-1 service ran it (full-size decoding)."""
    return preprocess_bytes(data, max_pixels, content_type, V1).pixels


def v2_pixels(data: bytes, content_type: str, max_pixels: int) -> np.ndarray:
    """``mnist-norm-2`` as the service runs it (JPEGs decoded at reduced size)."""
    return preprocess_bytes(data, max_pixels, content_type, V2).pixels


def attempt(pipeline: Callable[[], np.ndarray]) -> Prepared:
    """Run a pipeline; no digit found is a refusal, a bad image an error."""
    try:
        return Prepared(pixels=pipeline())
    except BlankImage:
        return Prepared(refused=True)
    except ImageRejected as exc:
        return Prepared(error=f"{exc.status} {exc.message}"[:MAX_ERROR_TEXT])
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return Prepared(error=f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT])


def score_in_process(
    stored: Sequence[StoredSample], model: ServedModel, max_pixels: int
) -> dict[str, list[Outcome]]:
    """Outcomes of ``naive`` and ``mnist-norm-1`` on every stored upload."""

    def prepare(sample: StoredSample) -> tuple[Prepared, Prepared]:
        data = sample.read()
        naive = attempt(lambda: naive_pixels(data))
        return naive, attempt(lambda: v1_pixels(data, sample.content_type, max_pixels))

    with ThreadPoolExecutor(WORKERS) as pool:
        pairs = list(pool.map(prepare, stored))
    labels = [s.label for s in stored]
    return {
        NAIVE: classify(model, [p[0] for p in pairs], labels),
        V1: classify(model, [p[1] for p in pairs], labels),
    }


def load_keras_twin(settings: Settings) -> Any:
    """The Keras model the served LiteRT file was converted from (same tag and temperature)."""
    import bentoml

    from serving.classifier import model_temperature
    from training.keras_classifier import KerasClassifier

    model = bentoml.models.get(served_tag(settings.model_name, settings.model_version))
    temperature = model_temperature(model.info.metadata)
    return KerasClassifier(model.path, str(model.tag), temperature=temperature)


def runtime_agreement(
    stored: Sequence[StoredSample], model: ServedModel, keras_twin: Any, max_pixels: int
) -> dict[str, Any]:
    """On these uploads as mnist-norm-2 prepares them: the served LiteRT file against Keras.

    Returns:
        ``images`` compared (refusals have nothing to compare), ``agreement`` (share with the
        same digit) and ``max_probability_difference``.
    """

    def prepare(sample: StoredSample) -> Prepared:
        return attempt(partial(v2_pixels, sample.read(), sample.content_type, max_pixels))

    with ThreadPoolExecutor(WORKERS) as pool:
        pixels = [p.pixels for p in pool.map(prepare, stored) if p.pixels is not None]
    if not pixels:
        return {"images": 0, "agreement": None, "max_probability_difference": None}
    batch = np.stack(pixels)
    served, twin = model.classifier.predict(batch), keras_twin.predict(batch)
    return {
        "images": len(batch),
        "agreement": share(int((served.argmax(1) == twin.argmax(1)).sum()), len(batch)),
        "max_probability_difference": float(f"{np.abs(served - twin).max():.3g}"),
    }


# --- mnist-norm-2 over HTTP --------------------------------------------------------------


def server_time_ms(headers: Mapping[str, str]) -> float | None:
    """Server-side time from a ``Server-Timing`` header: its ``total`` entry, else the sum.

    ``Server-Timing: decode;dur=3.1, total;dur=12.5`` -> 12.5. None without a usable header.
    """
    header = next((v for k, v in headers.items() if k.lower() == "server-timing"), None)
    if not header:
        return None
    durations: dict[str, float] = {}
    for entry in header.split(","):
        name, *params = (part.strip() for part in entry.split(";"))
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "dur":
                try:
                    durations[name] = float(value.strip().strip('"'))
                except ValueError:
                    continue
    if not durations:
        return None
    return durations.get("total", sum(durations.values()))


def http_outcome(
    label: int | None, status: int, body: Any, latency_ms: float, server_ms: float | None
) -> Outcome:
    """The outcome of one ``POST /predict``: 200 an answer, 422 a refusal, else an error."""
    timed = partial(Outcome, label=label, latency_ms=round(latency_ms, 3), server_ms=server_ms)
    if status == 200 and isinstance(body, dict) and "digit" in body:
        return timed(
            digit=int(body["digit"]),
            confidence=float(body["confidence"]),
            sure=bool(body["sure"]),
        )
    if status == 422:
        return timed(refused=True)
    message = body.get("error", "") if isinstance(body, dict) else ""
    return timed(error=f"HTTP {status} {message}"[:MAX_ERROR_TEXT])


class HttpScorer:
    """Sends uploads to ``POST /predict`` from a few threads and turns answers into outcomes.

    Also counts which model and preprocessing version the service reported.
    """

    def __init__(self, url: str, clients: int, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self.url = url
        self.clients = clients
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        self._client = httpx.Client(base_url=url, timeout=timeout, limits=limits)
        self._lock = threading.Lock()
        self.models: Counter[str] = Counter()
        self.preprocessing: Counter[str] = Counter()

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def post(self, data: bytes, content_type: str, filename: str, label: int | None) -> Outcome:
        """Send one upload and time it (the body is read before the clock stops)."""
        files = {"image": (filename, data, content_type)}
        started = time.perf_counter()
        try:
            response = self._client.post("/predict", files=files)
        except httpx.HTTPError as exc:
            return Outcome(label=label, error=f"{type(exc).__name__}"[:MAX_ERROR_TEXT])
        latency_ms = (time.perf_counter() - started) * 1000
        body = _json(response)
        self._count(body)
        timing = server_time_ms(response.headers)
        return http_outcome(label, response.status_code, body, latency_ms, timing)

    def _count(self, body: Any) -> None:
        if isinstance(body, dict) and "digit" in body:
            with self._lock:
                self.models[str(body.get("model"))] += 1
                self.preprocessing[str(body.get("preprocessing"))] += 1

    def score(
        self, stored: Sequence[StoredSample], progress: Callable[[int], None] | None = None
    ) -> list[Outcome]:
        """Outcomes of every stored upload, in order; ``progress(done)`` now and then."""

        def send(sample: StoredSample) -> Outcome:
            return self.post(sample.read(), sample.content_type, sample.path.name, sample.label)

        outcomes = []
        with ThreadPoolExecutor(self.clients, thread_name_prefix="client") as pool:
            for outcome in pool.map(send, stored):
                outcomes.append(outcome)
                if progress and len(outcomes) % PROGRESS_EVERY == 0 < len(stored) - len(outcomes):
                    progress(len(outcomes))
        return outcomes

    def warm_up(self, samples: Sequence[Sample]) -> None:
        """Send some uploads whose outcomes are not kept."""
        for i, sample in enumerate(samples):
            name = f"warm-up-{i}{extension(sample.content_type)}"
            self.post(sample.data, sample.content_type, name, sample.label)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def server_env(workdir: Path) -> dict[str, str]:
    """``DIGITS_*`` settings of the server started here: a throw-away store and spool."""
    return {
        "DIGITS_STORE_URL": f"sqlite:///{workdir / 'predictions.db'}",
        "DIGITS_SPOOL_DIR": str(workdir / "spool"),
        "DIGITS_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
    }


@contextmanager
def service(url: str | None, workdir: Path) -> Iterator[tuple[str, bool]]:
    """The service's URL and whether it was started here (it is, unless ``url`` is given).

    Raises:
        ServerError: the server did not start.
    """
    if url:
        yield url.rstrip("/"), False
        return
    server = bentoml_server(free_port(), server_env(workdir), log_path=workdir / "server.log")
    with running(server):
        yield server.url, True


# --- per-stage preprocessing cost --------------------------------------------------------


def finish(crop: np.ndarray) -> np.ndarray:
    """The last steps of ``mnist-norm-2``: stretch, thicken, 20 px box, centre of mass."""
    return center_by_mass(fit_box(thicken_strokes(stretch(crop))))


def stage_steps(sample: Sample, max_pixels: int) -> list[tuple[str, Callable[[Any], Any]]]:
    """``mnist-norm-2`` as named stages, each taking the previous stage's output."""

    def decode(_: object) -> Image.Image:
        return decode_image(
            sample.data, max_pixels, sample.content_type, DRAFT_SIDE, luma=True
        ).image

    return [
        ("decode", decode),
        ("work_array", work_array),
        ("dark_on_light+to_luma", lambda array: dark_on_light(to_luma(array))[0]),
        ("ink_darkness", ink_darkness),
        ("remove_printed_lines", remove_printed_lines),
        ("digit_region", digit_region),
        ("rest", finish),
    ]


def median_ms(step: Callable[[Any], Any], argument: Any, runs: int) -> tuple[float, Any]:
    """Median wall time (ms) of ``runs`` calls after one untimed call, and that call's result."""
    result = step(argument)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step(argument)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3), result


def stage_costs(sample: Sample, max_pixels: int, runs: int = STAGE_RUNS) -> dict[str, Any]:
    """Median cost of every stage on one upload, and of the whole decode + ``mnist-norm-2``.

    ``matches_pipeline`` checks that the stages chained give what the pipeline gives.
    """
    stages: dict[str, float] = {}
    value: Any = None
    info: dict[str, Any] = {"bytes": len(sample.data), "content_type": sample.content_type}
    try:
        for name, step in stage_steps(sample, max_pixels):
            stages[name], value = median_ms(step, value, runs)
            if name == "decode":
                info["decoded_size"] = list(value.size)
        stages["full"], full = median_ms(
            lambda _: v2_pixels(sample.data, sample.content_type, max_pixels), None, runs
        )
    except BlankImage as exc:
        return {**info, "stages": stages, "error": str(exc)}
    info["sum_of_stages"] = round(sum(v for k, v in stages.items() if k != "full"), 3)
    info["matches_pipeline"] = bool(np.array_equal(value, full))
    return {**info, "stages": stages}


def stage_input(condition: str, seed: int, max_pixels: int) -> tuple[int, Sample]:
    """The first upload of a condition's set that ``mnist-norm-2`` reads (else the first)."""
    draws = plan_set(condition, STAGE_CANDIDATES, seed)
    samples = (draw.render() for draw in draws)
    for position, sample in enumerate(samples):
        if (
            attempt(partial(v2_pixels, sample.data, sample.content_type, max_pixels)).pixels
            is not None
        ):
            return position, sample
    return 0, draws[0].render()


def measure_stages(seed: int, max_pixels: int) -> dict[str, Any]:
    """Stage costs on one upload of each of :data:`STAGE_INPUTS`."""
    costs = {}
    for condition in STAGE_INPUTS:
        position, sample = stage_input(condition, seed, max_pixels)
        costs[condition] = {"position": position, **stage_costs(sample, max_pixels)}
        stages = ", ".join(f"{k} {v:.2f}" for k, v in costs[condition]["stages"].items())
        print(f"[stages] {condition} #{position}: {stages} ms", flush=True)
    return costs


# --- one condition -----------------------------------------------------------------------


def render_to_disk(draws: Sequence[Draw], directory: Path) -> list[StoredSample]:
    """Render every draw into ``directory`` (in parallel, one upload in memory per thread)."""
    directory.mkdir(parents=True, exist_ok=True)
    images = test_split()[0]

    def render(draw: Draw) -> StoredSample:
        sample = draw.render(images)
        path = directory / (draw.filename + extension(sample.content_type))
        path.write_bytes(sample.data)
        return StoredSample(path, sample.content_type, sample.label, sample.condition)

    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(render, draws))


def preview_of(sample: StoredSample, max_pixels: int) -> Preview:
    """The upload downscaled, and what the two normalising pipelines made of it."""
    data = sample.read()
    decoded = decode_image(data, max_pixels, sample.content_type, draft_side=THUMBNAIL_SIDE)
    thumbnail = flatten_alpha(decoded.image).convert("RGB")
    thumbnail.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    return Preview(
        condition=sample.condition,
        label=sample.label,
        thumbnail=np.asarray(thumbnail),
        v1=attempt(lambda: v1_pixels(data, sample.content_type, max_pixels)).pixels,
        v2=attempt(lambda: v2_pixels(data, sample.content_type, max_pixels)).pixels,
    )


def progress_line(condition: str, pipeline: str, metrics: dict[str, Any], seconds: float) -> str:
    """``[ruled] mnist-norm-2 300/300 accuracy 99.3% ...`` for one finished pipeline."""
    parts = [f"[{condition}] {pipeline} {metrics['n']}/{metrics['n']}"]
    parts.append(f"accuracy {percent(metrics['accuracy'])}")
    parts.append(f"refused {percent(metrics['refused'])}")
    parts.append(f"sure {percent(metrics['sure'])}")
    if metrics["digit_condition"]:
        parts.append(f"sure precision {percent(metrics['precision_of_sure'])}")
    if metrics["errors"]:
        parts.append(f"errors {percent(metrics['errors'])}")
    if metrics["latency_ms"]:
        latency = metrics["latency_ms"]
        parts.append(f"p50 {latency['p50']:.1f} ms p95 {latency['p95']:.1f} ms")
    return " ".join(parts) + f" ({seconds:.0f} s)"


def evaluate_condition(
    condition: str,
    count: int,
    seed: int,
    model: ServedModel,
    scorer: HttpScorer,
    workdir: Path,
    max_pixels: int,
    runtimes: tuple[ServedModel, Any] | None = None,
) -> tuple[dict[str, Any], Preview | None]:
    """Render one condition's uploads, score the three pipelines on them, delete them.

    With ``runtimes`` (the served model and its Keras twin), also compare the two on them.

    Returns:
        pipeline -> metrics, and the preview of the first upload (None for an empty set).
    """
    started = time.monotonic()
    directory = workdir / condition
    stored = render_to_disk(plan_set(condition, count, seed), directory)
    megabytes = sum(s.path.stat().st_size for s in stored) / 1e6
    print(f"[{condition}] rendered {len(stored)} uploads, {megabytes:.1f} MB", flush=True)
    digits = is_digit_condition(condition)
    metrics: dict[str, Any] = {}
    clock = time.monotonic()
    for pipeline, outcomes in score_in_process(stored, model, max_pixels).items():
        metrics[pipeline] = summarize(outcomes, digits)
    print(progress_line(condition, NAIVE, metrics[NAIVE], time.monotonic() - clock), flush=True)
    print(progress_line(condition, V1, metrics[V1], time.monotonic() - clock), flush=True)
    clock = time.monotonic()

    def progress(done: int) -> None:
        print(f"[{condition}] {V2} {done}/{len(stored)} ...", flush=True)

    metrics[V2] = summarize(scorer.score(stored, progress), digits)
    print(progress_line(condition, V2, metrics[V2], time.monotonic() - clock), flush=True)
    if runtimes is not None:
        metrics[V2]["litert_vs_keras"] = runtime_agreement(stored, *runtimes, max_pixels)
    preview = preview_of(stored[0], max_pixels) if stored else None
    shutil.rmtree(directory, ignore_errors=True)
    log.info("%s done in %.0f s", condition, time.monotonic() - started)
    return metrics, preview


# --- the whole run -----------------------------------------------------------------------


def parse_conditions(text: str | None) -> list[str]:
    """``"ruled,shadow"`` -> the conditions, checked; None or empty -> all of them.

    Raises:
        ValueError: an unknown condition.
    """
    if not text:
        return list(CONDITIONS)
    return [check_condition(name.strip()) for name in text.split(",") if name.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m evaluation.run", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--per-condition",
        type=int,
        default=DEFAULT_PER_CONDITION,
        metavar="N",
        help=f"uploads per condition (default {DEFAULT_PER_CONDITION})",
    )
    parser.add_argument("--url", help="an already running service (default: start one here)")
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=DEFAULT_REPORT_DIR,
        metavar="DIR",
        help=f"where the report goes (default {DEFAULT_REPORT_DIR})",
    )
    parser.add_argument("--conditions", metavar="A,B", help="comma-separated subset (default all)")
    parser.add_argument("--seed", type=int, default=EVAL_SEED, help=f"default {EVAL_SEED}")
    parser.add_argument(
        "--baseline-model",
        type=Path,
        metavar="DIR",
        help="directory with the model.keras that naive and mnist-norm-1 use (default: the "
        "served model), e.g. the model the version-1 service served",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=DEFAULT_CLIENTS,
        metavar="N",
        help=f"concurrent HTTP clients, 1-16 (default {DEFAULT_CLIENTS})",
    )
    args = parser.parse_args(argv)
    try:
        args.conditions = parse_conditions(args.conditions)
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= args.per_condition <= 10_000:
        parser.error("--per-condition must be between 1 and 10000 (the MNIST test split)")
    if not 1 <= args.clients <= 16:
        parser.error("--clients must be between 1 and 16")
    return args


def reproduce_command(argv: Sequence[str]) -> str:
    """``make evaluate`` for the published run, else the exact command line."""
    defaults = ["--report-dir", str(DEFAULT_REPORT_DIR)]
    published = [*defaults, "--baseline-model", str(BASELINE_MODEL)]
    if list(argv) in ([], defaults, published):
        return "make evaluate"
    return "python -m evaluation.run " + shlex.join(argv)


def build_report(
    args: argparse.Namespace,
    argv: Sequence[str],
    model: ServedModel,
    service_info: dict[str, Any],
    results: dict[str, Any],
    stage_cost: dict[str, Any],
) -> dict[str, Any]:
    """The whole ``report.json`` document."""
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": reproduce_command(argv),
        "seed": args.seed,
        "per_condition": args.per_condition,
        "conditions": list(args.conditions),
        "counts": {c: {p: m["n"] for p, m in results[c].items()} for c in results},
        "mnist_split": "test",
        "pipelines": [NAIVE, V1, V2],
        "model": {
            "tag": model.tag,
            "confidence_threshold": model.threshold,
            "temperature": model.temperature,
        },
        "preprocessing_version": PREPROCESSING_VERSION,
        "service": service_info,
        "results": results,
        "targets": check_targets(results),
        "litert_vs_keras": litert_summary(results),
        "stage_cost_ms": stage_cost,
    }


def litert_summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per condition and overall: how often the served LiteRT file and Keras agree."""
    per = {c: m[V2]["litert_vs_keras"] for c, m in results.items() if "litert_vs_keras" in m[V2]}
    compared = [a for a in per.values() if a["images"]]
    images = sum(a["images"] for a in compared)
    same = sum(round(a["agreement"] * a["images"]) for a in compared)
    overall = {
        "images": images,
        "agreement": share(same, images) if images else None,
        "max_probability_difference": max(
            (a["max_probability_difference"] for a in compared), default=None
        ),
    }
    return {"per_condition": per, "overall": overall}


def run(
    args: argparse.Namespace, model: ServedModel, baseline: ServedModel, workdir: Path
) -> dict[str, Any]:
    """Time the stages, then score every condition against a service; the report's parts.

    ``baseline`` classifies the in-process pipelines (naive, mnist-norm-1); ``model`` is the
    served one, compared on every condition with the Keras model it was converted from.
    """
    settings = load_settings()
    runtimes = (model, load_keras_twin(settings))
    stage_cost = measure_stages(args.seed, settings.max_image_pixels)
    results: dict[str, Any] = {}
    previews: list[Preview] = []
    with service(args.url, workdir) as (url, started_here):
        scorer = HttpScorer(url, args.clients)
        try:
            scorer.warm_up([d.render() for d in plan_set("clean", WARM_UP_REQUESTS, args.seed + 1)])
            for condition in args.conditions:
                results[condition], preview = evaluate_condition(
                    condition,
                    args.per_condition,
                    args.seed,
                    baseline,
                    scorer,
                    workdir,
                    settings.max_image_pixels,
                    runtimes,
                )
                if preview is not None:
                    previews.append(preview)
        finally:
            scorer.close()
        service_info = {
            "url": url,
            "started_here": started_here,
            "clients": args.clients,
            "models_seen": dict(scorer.models),
            "preprocessing_seen": dict(scorer.preprocessing),
        }
    return {"results": results, "previews": previews, "stages": stage_cost, "service": service_info}


def warn_about_service(service_info: dict[str, Any], model: ServedModel) -> None:
    """Log when the service did not answer with the model or preprocessing evaluated here."""
    models = service_info["models_seen"]
    if models and set(models) != {model.tag}:
        log.warning("the service answered with model(s) %s, not %s", sorted(models), model.tag)
    versions = service_info["preprocessing_seen"]
    if versions and set(versions) != {V2}:
        log.warning("the service applied %s, not %s", sorted(versions), V2)


def log_summary(report: dict[str, Any], paths: Sequence[Path], seconds: float) -> None:
    """The table, the missed targets and the files written, at the end of the run."""
    print("\n" + markdown_table(report), flush=True)
    targets = report["targets"]
    for check in targets["checks"]:
        if not check["met"]:
            value = "none" if check["value"] is None else f"{100 * check['value']:.2f}%"
            log.warning(
                "target missed: %s %s = %s < %s",
                check["condition"],
                check["metric"],
                value,
                percent(check["target"]),
            )
    litert = report.get("litert_vs_keras", {}).get("overall", {})
    if litert.get("images"):
        log.info(
            "served LiteRT vs Keras on %d mnist-norm-2 images: same digit on %.2f%%, "
            "largest probability difference %.2g",
            litert["images"],
            100 * litert["agreement"],
            litert["max_probability_difference"],
        )
    verdict = "all met" if targets["all_met"] else "MISSED"
    log.info("%s targets %s; %.0f s; wrote %s", V2, verdict, seconds, ", ".join(map(str, paths)))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation; 0 all targets met, 1 some missed, 2 could not run."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    started = time.monotonic()
    from bentoml.exceptions import NotFound

    try:
        model = load_served_model(load_settings())
    except NotFound as exc:
        log.error("no served model in the BentoML store (%s); run `make model` first", exc)
        return 2
    baseline = model
    if args.baseline_model is not None:
        baseline = load_baseline_model(args.baseline_model, load_settings())
    with tempfile.TemporaryDirectory(prefix="digits-evaluation-") as tmp:
        try:
            parts = run(args, model, baseline, Path(tmp))
        except ServerError as exc:
            log.error("the service did not start: %s", exc)
            return 2
    warn_about_service(parts["service"], model)
    report = build_report(args, argv, model, parts["service"], parts["results"], parts["stages"])
    report["baseline_model"] = baseline.tag
    paths = write_report(args.report_dir, report, parts["previews"])
    log_summary(report, paths, time.monotonic() - started)
    return 0 if report["targets"]["all_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
