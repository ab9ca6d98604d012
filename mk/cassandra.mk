# Apache Cassandra 5.0 from Maven Central on OpenJDK 17 (devtools/cassandra/, storage/, tests/storage/).
# storage/README.md is the guide: local node or 3-node cluster, schema, cqlsh, benchmark.

CASSANDRA_DIR ?= var/cassandra
CASSANDRA_LIB := $(CASSANDRA_DIR)/lib
CASSANDRA_NODES ?= 1
# Extra launcher options, e.g. CASSANDRA_FLAGS=--auth (passwords; superuser cassandra/cassandra).
CASSANDRA_FLAGS ?=
CASSANDRA_URL ?= cassandra://127.0.0.1:9042/digits
JDK17_HOME := /usr/lib/jvm/java-17-openjdk-amd64
JDK17_JAVA := $(JDK17_HOME)/bin/java
CASSANDRA_STAMP := $(CASSANDRA_LIB)/.installed

CQLSH_VERSION := 6.2.2
CQLSH_VENV := var/cqlsh

.PHONY: cassandra-install cassandra-up cassandra-down cassandra-status cassandra-migrate \
	cassandra-bench cqlsh stack

$(CASSANDRA_STAMP): devtools/cassandra/pom.xml
	@if [ -x "$(JDK17_JAVA)" ]; then echo "OpenJDK 17 present"; \
	else echo "installing openjdk-17-jre-headless (Debian, one-off)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; fi
	@if command -v mvn >/dev/null; then echo "maven present"; \
	else echo "installing maven (Debian, one-off)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null; fi
	@echo "resolving the Cassandra jars from Maven Central into $(CASSANDRA_LIB) (cache ~/.m2)"
	@rm -rf $(CASSANDRA_LIB) && mkdir -p $(CASSANDRA_LIB)
	JAVA_HOME=$(JDK17_HOME) mvn -B -q -f devtools/cassandra/pom.xml dependency:copy-dependencies \
	  -DoutputDirectory=$(abspath $(CASSANDRA_LIB))
	@echo "$$(ls $(CASSANDRA_LIB)/*.jar | wc -l) jars in $(CASSANDRA_LIB)"
	@touch $@

cassandra-install: $(CASSANDRA_STAMP) ## Install OpenJDK 17 + Maven if absent, resolve the Cassandra jars

cassandra-up: install cassandra-install ## Start a local Cassandra (CASSANDRA_NODES=3 for a cluster)
	$(PY) -m devtools.cassandra.node start --nodes $(CASSANDRA_NODES) --dir $(CASSANDRA_DIR) $(CASSANDRA_FLAGS)

cassandra-down: install ## Stop the local Cassandra node(s)
	$(PY) -m devtools.cassandra.node stop --nodes $(CASSANDRA_NODES) --dir $(CASSANDRA_DIR)

cassandra-status: install ## Show the local Cassandra node(s)
	$(PY) -m devtools.cassandra.node status --nodes $(CASSANDRA_NODES) --dir $(CASSANDRA_DIR)

cassandra-migrate: install ## Create/update the keyspace and tables (idempotent)
	DIGITS_STORE_URL=$(CASSANDRA_URL) $(PY) -m storage.migrate

cassandra-bench: install cassandra-install ## Node startup time and store write throughput
	$(PY) -m devtools.cassandra.bench

cqlsh: ## Open cqlsh on the local node (installed once into var/cqlsh, apart from .venv)
	@test -x $(CQLSH_VENV)/bin/cqlsh || { echo "installing cqlsh==$(CQLSH_VERSION) into $(CQLSH_VENV)"; \
	  $(PYTHON) -m venv $(CQLSH_VENV) && $(CQLSH_VENV)/bin/pip install -q "cqlsh==$(CQLSH_VERSION)"; }
	$(CQLSH_VENV)/bin/cqlsh $${CQLSH_HOST:-127.0.0.1} 9042

stack: model cassandra-up cassandra-migrate ## Local stack: Cassandra node + service on :3000 using it
	DIGITS_STORE_URL=$(CASSANDRA_URL) $(VENV)/bin/bentoml serve service:DigitService \
	  --host $${HOST:-127.0.0.1} --port $${PORT:-3000}

TEST_PREREQS += cassandra-install
