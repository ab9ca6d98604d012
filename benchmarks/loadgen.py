"""The benchmark's HTTP load generator (gevent), identical for the service and the baseline.

Two modes, both sending the same pre-encoded multipart bodies round-robin from the corpus:

- closed loop (``--concurrency N``): N connections, each sends its next request as soon as the
  previous answer arrived; measures the throughput ceiling at that concurrency;
- open loop (``--rate R``): requests start on a fixed schedule of R per second whatever the
  server does; latency is measured from the scheduled start, so queueing is not hidden.

It runs in its own single-threaded process (one core at most) and reports its own CPU time, so
its share of the two cores is visible. Prints one JSON object.

Usage: python -m benchmarks.loadgen --url http://127.0.0.1:3000/predict --field image \
    --concurrency 32 --duration 15
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402 - gevent must patch first
import resource  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

import gevent  # noqa: E402
import numpy as np  # noqa: E402
from gevent.pool import Pool  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402

from benchmarks.answers import answered_digit  # noqa: E402
from benchmarks.results import (  # noqa: E402
    CORPUS_SEED,
    CORPUS_SIZE,
    DURATION_S,
    WARMUP_S,
    LoadResult,
)
from loadtests.corpus import load_corpus  # noqa: E402
from loadtests.multipart import FilePart, encode_multipart  # noqa: E402


@dataclass
class Recorder:
    """Latencies of successful requests and counts of everything else."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    recording: bool = False
    until: float = float("inf")
    all_ok: int = 0
    checked: int = 0
    correct: int = 0

    def done(self, status: int | str, latency_ms: float, right: bool | None = None) -> None:
        """Record one finished request (only while ``recording`` and before ``until``)."""
        self.all_ok += int(status == 200)
        if not self.recording or time.perf_counter() > self.until:
            return
        if right is not None:
            self.checked += 1
            self.correct += int(right)
        key = str(status)
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if status == 200:
            self.latencies_ms.append(latency_ms)
        else:
            self.errors += 1


class Target:
    """Where to send what: one host, one path, a ring of encoded bodies."""

    def __init__(self, url: str, field_name: str, corpus_size: int, seed: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path or "/"
        samples = load_corpus(corpus_size, seed)
        self.bodies = [
            encode_multipart([FilePart(field_name, s.filename, s.content_type, s.data)])
            for s in samples
        ]
        self.labels = [s.label for s in samples]
        self._next = 0

    def next_body(self) -> tuple[bytes, str, int]:
        """The next body, its content type and the digit it shows, round-robin."""
        index = self._next % len(self.bodies)
        self._next += 1
        body, content_type = self.bodies[index]
        return body, content_type, self.labels[index]

    def client(self, concurrency: int = 1) -> HTTPClient:
        """A keep-alive client (reconnects by itself when the server closes)."""
        return HTTPClient(
            self.host,
            self.port,
            concurrency=concurrency,
            connection_timeout=10.0,
            network_timeout=60.0,
        )


def send(client: HTTPClient, target: Target, recorder: Recorder, started: float) -> None:
    """One POST; latency counted from ``started`` (the scheduled time in open loop)."""
    body, content_type, label = target.next_body()
    right = None
    try:
        response = client.post(target.path, body=body, headers={"Content-Type": content_type})
        answer = response.read()
        status: int | str = response.status_code
        response.release()
        if status == 200:
            right = answered_digit(answer) == label
    except Exception as exc:  # every transport error counts as one failed request
        status = type(exc).__name__
    recorder.done(status, (time.perf_counter() - started) * 1000.0, right)


def closed_loop(target: Target, concurrency: int, duration: float, warmup: float) -> Recorder:
    """``concurrency`` connections, back to back, for ``warmup`` + ``duration`` seconds."""
    deadline = time.perf_counter() + warmup + duration
    recorder = Recorder(until=deadline)

    def user() -> None:
        client = target.client()
        while time.perf_counter() < deadline:
            send(client, target, recorder, time.perf_counter())
        client.close()

    greenlets = [gevent.spawn(user) for _ in range(concurrency)]
    gevent.sleep(warmup)
    recorder.recording = True
    gevent.joinall(greenlets)
    return recorder


def open_loop(
    target: Target, rate: float, duration: float, warmup: float, max_in_flight: int
) -> Recorder:
    """Start ``rate`` requests per second on schedule; at most ``max_in_flight`` at once."""
    recorder = Recorder()
    client = target.client(concurrency=max_in_flight)
    pool = Pool(max_in_flight)
    interval = 1.0 / rate
    begin = time.perf_counter()
    scheduled = begin
    while scheduled < begin + warmup + duration:
        if not recorder.recording and scheduled >= begin + warmup:
            recorder.recording = True
        delay = scheduled - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        pool.spawn(send, client, target, recorder, scheduled)
        scheduled += interval
    pool.join()
    client.close()
    return recorder


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, 0 when empty."""
    return float(np.percentile(values, q)) if values else 0.0


def cpu_seconds() -> float:
    """CPU time (user + system) this process used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summarize(
    recorder: Recorder,
    mode: str,
    concurrency: int,
    rate: float | None,
    duration: float,
    cpu_s: float,
) -> LoadResult:
    """Turn raw latencies into a :class:`~benchmarks.results.LoadResult`."""
    done = len(recorder.latencies_ms)
    return LoadResult(
        mode=mode,
        concurrency=concurrency,
        target_rate=rate,
        duration_s=duration,
        requests=done + recorder.errors,
        errors=recorder.errors,
        rps=done / duration,
        p50_ms=round(percentile(recorder.latencies_ms, 50), 2),
        p95_ms=round(percentile(recorder.latencies_ms, 95), 2),
        p99_ms=round(percentile(recorder.latencies_ms, 99), 2),
        max_ms=round(max(recorder.latencies_ms, default=0.0), 2),
        statuses=recorder.statuses,
        loadgen_cpu_s=round(cpu_s, 2),
        all_ok=recorder.all_ok,
        accuracy=round(recorder.correct / recorder.checked, 4) if recorder.checked else None,
    )


def main() -> None:
    """Run one load level and print its JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--field", default="image", help="Multipart field name of the file")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rate", type=float, help="Open loop: requests per second")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--duration", type=float, default=DURATION_S)
    parser.add_argument("--warmup", type=float, default=WARMUP_S)
    parser.add_argument("--corpus-size", type=int, default=CORPUS_SIZE)
    parser.add_argument("--seed", type=int, default=CORPUS_SEED)
    args = parser.parse_args()
    target = Target(args.url, args.field, args.corpus_size, args.seed)
    cpu_before = cpu_seconds()
    if args.rate:
        recorder = open_loop(target, args.rate, args.duration, args.warmup, args.max_in_flight)
        mode, concurrency = "open", 0
    else:
        recorder = closed_loop(target, args.concurrency, args.duration, args.warmup)
        mode, concurrency = "closed", args.concurrency
    cpu = cpu_seconds() - cpu_before
    result = summarize(recorder, mode, concurrency, args.rate, args.duration, cpu)
    print(result.to_json(indent=None))


if __name__ == "__main__":
    main()
