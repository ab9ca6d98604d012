# Load tests (Locust, loadtests/) and the benchmark suite (benchmarks/); see loadtests/README.md.
# Reports go to reports/ (git-ignored); `make bench` rewrites BENCHMARKS.md and benchmarks/results/.

LOAD_USERS ?= 20
LOAD_SPAWN_RATE ?= 5
LOAD_DURATION ?= 60
LOAD_HOST ?=
# Thresholds: the run (and make) fails when one is exceeded; a negative value disables one.
LOAD_MAX_FAILURE_RATIO ?= 0
LOAD_MAX_P95_MS ?= 500
LOAD_MAX_P99_MS ?= 1000
LOAD_MIN_ACCURACY ?= 0.95
LOAD_ARGS ?=
# The tuned service configuration for a 2-core machine (see `make bench-tune`, BENCHMARKS.md).
BENCH_ARGS ?= --workers 2 --threads 8 --inference-threads 1

.PHONY: loadtest loadtest-outage bench bench-tune

loadtest: model ## Locust load test with thresholds (own SQLite stack unless LOAD_HOST=url)
	$(PY) -m loadtests.run --users $(LOAD_USERS) --spawn-rate $(LOAD_SPAWN_RATE) \
	  --duration $(LOAD_DURATION) $(if $(LOAD_HOST),--host $(LOAD_HOST)) \
	  --max-failure-ratio $(LOAD_MAX_FAILURE_RATIO) --max-p95-ms $(LOAD_MAX_P95_MS) \
	  --max-p99-ms $(LOAD_MAX_P99_MS) --min-accuracy $(LOAD_MIN_ACCURACY) $(LOAD_ARGS)

loadtest-outage: model cassandra-install ## Load test that stops and restarts Cassandra, then audits every record
	$(PY) -m loadtests.outage --reads-may-503 $(LOAD_ARGS)

bench: model cassandra-install ## Benchmark: ceiling, service (3 stores), baseline, BentoML-docs peers -> BENCHMARKS.md (~11 min)
	$(PY) -m benchmarks.run $(BENCH_ARGS)

bench-tune: model ## Sweep workers/threads/inference threads (recording off) -> benchmarks/results/tuning.json (~3 min)
	$(PY) -m benchmarks.tune
