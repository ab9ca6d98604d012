# Container images and the compose stack (bentofile.yaml, compose.yaml, docker/).
# docker/README.md is the guide: official images online, local stand-ins offline.

COMPOSE_PROJECT ?= digits
STACK_ENV := var/docker/stack.env
COMPOSE := docker-compose -p $(COMPOSE_PROJECT) --env-file $(STACK_ENV) -f compose.yaml
export DIGITS_IMAGE ?= digits-service:latest
export LOADGEN_IMAGE ?= digits-loadgen:latest
CHECK_JSONSCHEMA_VERSION := 0.39.0

.PHONY: docker-engine compose-tools images loadgen-image stack-env stack-up stack-down stack-logs e2e

docker-engine: ## Install Debian's Docker Engine, docker-compose and debootstrap (once)
	@docker/engine.sh install

compose-tools: install ## Install check-jsonschema (offline Compose Specification schema) into .venv
	@$(VENV)/bin/check-jsonschema --version >/dev/null 2>&1 && echo "check-jsonschema present" || { \
	  echo "installing check-jsonschema==$(CHECK_JSONSCHEMA_VERSION) into $(VENV)"; \
	  $(PY) -m pip install -q "check-jsonschema==$(CHECK_JSONSCHEMA_VERSION)"; }

images: docker-engine model cassandra-install ## Build digits-service (bentoml containerize) and cassandra:5.0 (or stand-ins)
	docker/build-images.sh service cassandra

loadgen-image: docker-engine install ## Build digits-loadgen (Locust + corpus) for the loadtest profile
	docker/build-images.sh loadgen

$(STACK_ENV):
	@mkdir -p $(dir $@)
	@umask 077 && $(PY) docker/stack_env.py > $@
	@echo "wrote $@ (random Cassandra passwords, git-ignored)"

stack-env: install $(STACK_ENV) ## Generate var/docker/stack.env with random passwords (once)

stack-up: images stack-env ## Build, then run the stack on http://127.0.0.1:3000 (starts dockerd if needed)
	docker/engine.sh start
	$(COMPOSE) up -d
	@echo "stack up: http://$${DIGITS_BIND:-127.0.0.1}:$${DIGITS_PORT:-3000}  (make stack-down to stop)"

stack-logs: ## Follow the stack's logs
	$(COMPOSE) logs -f --tail=50

stack-down: ## Stop the stack, delete its volumes, stop dockerd if stack-up started it
	@if docker/engine.sh status >/dev/null && [ -f $(STACK_ENV) ]; then \
	  $(COMPOSE) --profile loadtest down -v --remove-orphans; fi
	docker/engine.sh stop

e2e: docker-engine model cassandra-install ## End-to-end: images, stack up, uploads, rows, restart, teardown
	$(PY) -m pytest -m e2e -v -s tests/deployment/test_e2e_stack.py

# The e2e test starts dockerd itself and builds the images; the compose tests need the tools.
TEST_PREREQS += docker-engine compose-tools
