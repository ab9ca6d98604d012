# Kubernetes manifests (k8s/): secrets, rendering, offline validation. The images come from
# mk/containers.mk (`make images`, `make loadgen-image`).
# k8s/README.md is the deployment guide.

K8S_OVERLAYS := dev prod loadtest
# Kubernetes versions whose official schemas every rendered object must pass (strict).
K8S_VERSIONS := 1.32.0 1.35.0 1.37.0
KUBERNETES_VALIDATE_VERSION := 1.37.0
K8S_BUILD := build/k8s

.PHONY: k8s-tools k8s-secrets k8s-render k8s-validate k8s-test

k8s-tools: install ## Check kubectl; install kubernetes-validate (offline schemas)
	@command -v kubectl >/dev/null || { echo "kubectl is required (kubectl kustomize renders k8s/)"; exit 1; }
	@$(PY) -c "import kubernetes_validate" 2>/dev/null && echo "kubernetes-validate present" || { \
	  echo "installing kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION) into $(VENV)"; \
	  $(PY) -m pip install -q "kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)"; }

k8s-secrets: install ## Write git-ignored k8s/secrets/*.env with random passwords (once)
	$(PY) k8s/secrets/generate.py

k8s-render: k8s-tools k8s-secrets ## Render every overlay into build/k8s/<overlay>.yaml
	@mkdir -p $(K8S_BUILD)
	@for overlay in $(K8S_OVERLAYS); do \
	  kubectl kustomize k8s/overlays/$$overlay > $(K8S_BUILD)/$$overlay.yaml || exit 1; \
	  echo "k8s-render: $(K8S_BUILD)/$$overlay.yaml ($$(grep -c '^kind:' $(K8S_BUILD)/$$overlay.yaml) objects)"; \
	done

k8s-validate: k8s-render ## Validate the rendered overlays against official schemas, then run the k8s tests
	@for version in $(K8S_VERSIONS); do \
	  echo "k8s-validate: Kubernetes $$version (strict)"; \
	  $(VENV)/bin/kubernetes-validate --strict --quiet -k $$version $(K8S_BUILD)/*.yaml || exit 1; \
	done
	$(PY) -m pytest -q tests/deployment/test_k8s.py

k8s-test: k8s-tools cassandra-install ## The Kubernetes tests (manifests; schema job on a real node)
	$(PY) -m pytest -q tests/deployment/test_k8s.py tests/deployment/test_k8s_schema_job.py

TEST_PREREQS += k8s-tools

# The project's own single-node Kubernetes (k8s/local/, k8s/README.md "A real cluster on this machine").
.PHONY: k8s-build k8s-up k8s-down k8s-status k8s-e2e

k8s-build: ## Build the local cluster's components once (cached in ~/.cache/digits-k8s; cold ~20 min)
	k8s/local/build.sh

k8s-up: k8s-build k8s-secrets ## Start the local single-node cluster (private namespaces; k8s/local/)
	k8s/local/cluster.sh up

k8s-down: ## Stop the local cluster and delete its state
	k8s/local/cluster.sh down

k8s-status: ## What the local cluster runs
	k8s/local/cluster.sh status

k8s-e2e: images k8s-build k8s-secrets ## The manifests on the local cluster: apply, uploads, rows, drills
	$(PY) -m pytest -m k8s -v -s tests/deployment/test_k8s_cluster.py

TEST_PREREQS += k8s-build
