"""The benchmark's results as typed models, and the defaults of its command lines.

Shared by ``run`` (measures, writes ``results/latest.json``), ``tune`` (writes
``results/tuning.json``), ``report`` (renders BENCHMARKS.md), the load generator and the ceiling;
it imports none of them. Each model mirrors its JSON object key for key and in the same order,
so :meth:`Results.to_json` of a file read with :meth:`Results.from_json` is that file again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, computed_field, model_validator

RESULTS = Path(__file__).resolve().parent / "results"

# The defaults, in one place: what `make bench` (`benchmarks.run` with only the service settings
# given) and `make bench-tune` (`benchmarks.tune` without options) run with.
LEVELS = (1, 8, 32, 64)  # closed-loop users per level
DURATION_S = 15.0  # measured seconds per level
WARMUP_S = 2.0  # unmeasured seconds before each level
CORPUS_SIZE = 400  # images sent round-robin (loadtests.corpus)
CORPUS_SEED = 7
CEILING_S = 10.0  # seconds of the in-process ceiling
LOADGEN_CPUS = (1,)  # the CPU the load generator is pinned to
PREWARM_S = 8.0  # unmeasured load before each configuration's first level...
PREWARM_USERS = 8  # ...at this many users
PEERS = ("docs-batching", "docs-predict")  # the BentoML-documentation peers
TARGETS = ("service-cassandra", "service-sqlite", "service-none", "baseline", *PEERS)
SERVICE = TARGETS[0]  # the configuration compared with the baseline
COMPARE_AT = 32  # users at which the service is compared with the baseline, and tuned
TUNE_DURATION_S = 10.0  # measured seconds per configuration of the tuning sweep
#: Files written before the prewarm was recorded; BENCHMARKS.md has always shown them as this.
LEGACY_PREWARM = {"prewarm_s": 3.0, "prewarm_users": 4}


class Model(BaseModel):
    """A frozen model of one JSON object of the results files; unknown keys are refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """The model of a JSON document (as the results files hold it)."""
        return cls.model_validate(json.loads(text))

    def to_json(self, indent: int | None = 2) -> str:
        """The JSON document, formatted as the results files are (``json.dumps``, no newline)."""
        return json.dumps(self.model_dump(), indent=indent)


class Ceiling(Model):
    """Images per second in-process, and where the time goes.

    ``images_per_s`` is measured (wall clock, so it drops when something else runs);
    ``cpu_bound_images_per_s`` is what the cores would do if the pipeline had them to itself
    (cores x 1000 / CPU ms per image).
    """

    processes: int
    batch: int
    images_per_s: float
    preprocess_ms_per_image: float
    inference_ms_per_image_batched: float
    inference_ms_single: float
    cpu_bound_images_per_s: float


class LoadResult(Model):
    """What one load level measured (the load generator's output; an open-loop run as is)."""

    mode: str
    concurrency: int
    target_rate: float | None
    duration_s: float
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    loadgen_cpu_s: float
    all_ok: int  # every 200 answer, warm-up and tail included (records the server wrote)
    accuracy: float | None  # answered digit == label, over the measured answers


class Level(LoadResult):
    """A closed-loop level with the cores each party used and the CPU cost per request."""

    cores_server: float
    cores_cassandra: float
    cores_loadgen: float
    cores_other: float
    server_cpu_ms_per_request: float
    cassandra_cpu_ms_per_request: float


class TargetResult(Model):
    """One server configuration swept over the concurrency levels."""

    name: str
    description: str
    endpoint: str
    levels: list[Level]
    half_load: LoadResult | None
    server_peak_rss_mb: float
    cassandra_peak_rss_mb: float | None
    answered: int
    recorded: int | None

    @model_validator(mode="before")
    @classmethod
    def _derived_key(cls, data: Any) -> Any:
        # peak_rps is written for the file's readers and derived again when read
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if key != "peak_rps"}
        return data

    @computed_field  # type: ignore[prop-decorator]
    @property
    def peak_rps(self) -> float:
        """Best throughput over the levels."""
        return max((level.rps for level in self.levels), default=0.0)

    def at(self, concurrency: int) -> Level | None:
        """The level measured at ``concurrency``, if any."""
        return next((lv for lv in self.levels if lv.concurrency == concurrency), None)


class Machine(Model):
    """What the numbers were measured on."""

    cpu: str
    cores: int | None
    memory_gb: float
    os: str
    python: str
    load_before: list[float]


class BenchConfig(Model):
    """What to run (``service_env``: the service's settings; empty ``loadgen_cpus``: no pinning)."""

    levels: list[int] = Field(default_factory=lambda: list(LEVELS))
    duration_s: float = DURATION_S
    warmup_s: float = WARMUP_S
    corpus_size: int = CORPUS_SIZE
    ceiling_s: float = CEILING_S
    loadgen_cpus: list[int] = Field(default_factory=lambda: list(LOADGEN_CPUS))
    service_env: dict[str, str] = Field(default_factory=dict)
    targets: list[str] = Field(default_factory=lambda: list(TARGETS))
    prewarm_s: float = PREWARM_S
    prewarm_users: int = PREWARM_USERS


class Verdict(Model):
    """One target of the benchmark and whether the run met it."""

    target: str
    measured: str
    passed: bool


class Results(Model):
    """One whole benchmark run: ``results/latest.json``."""

    generated_at: str
    machine: Machine
    config: BenchConfig
    command: str
    ceiling: Ceiling
    runs: list[TargetResult]
    elapsed_s: int
    ratios: dict[str, float | None]
    targets: list[Verdict]

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """The results of a ``latest.json``, also of one written before the prewarm was saved."""
        data = json.loads(text)
        data["config"] = LEGACY_PREWARM | data["config"]
        return cls.model_validate(data)


class TuningRow(Model):
    """One configuration of the tuning sweep (older sweeps called inference threads TF threads)."""

    workers: int
    threads: int
    inference_threads: int = Field(validation_alias=AliasChoices("inference_threads", "tf_threads"))
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_ms_per_request: float
    cores_server: float
    cores_other: float
    server_peak_rss_mb: float


class Tuning(Model):
    """The tuning sweep: ``results/tuning.json``."""

    concurrency: int
    duration_s: float
    rows: list[TuningRow]


class Stage(Model):
    """One stage of a request and its CPU milliseconds per request."""

    name: str
    cpu_ms: float


class Stages(Model):
    """Where a request's server CPU goes (``benchmarks.stages``): ``results/stages.json``.

    ``steps`` add up to the in-process app's cost (recording off); ``recording`` is what a
    store adds per prediction; ``totals`` are the app in-process and, when the benchmark's HTTP
    figure was given, what HTTP adds and the HTTP figure itself.
    """

    corpus_size: int
    repeat: int
    steps: list[Stage]
    recording: list[Stage]
    totals: list[Stage]
