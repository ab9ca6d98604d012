# MNIST data and model training (training/). training/README.md is the guide.
# `make model` (top-level Makefile) runs `python -m training.ensure`: import the shipped model
# (models/mnist_cnn.bentomodel) or train only when needed.

TRAIN_REPORT_DIR ?= reports/training

.PHONY: mnist train train-quick model-archive baseline-model evaluate feedback-export retrain

mnist: install ## Fetch (once) and verify MNIST; print its source and SHA-256
	$(PY) -m training.data

train: install ## Train a new full model (always, ~25 min on 2 cores), store it as the latest, write the report
	$(PY) -m training.train --report-dir $(TRAIN_REPORT_DIR)

model-archive: install ## Ship the promoted model: export it to models/mnist_cnn.bentomodel (commit that file)
	$(PY) -m training.store --export

# A separate store, so a smoke model never becomes the `latest` that the service loads.
train-quick: install ## One-epoch smoke training into var/bentoml-quick (never served)
	BENTOML_HOME=$(CURDIR)/var/bentoml-quick $(PY) -m training.train --quick \
	  --report-dir $(TRAIN_REPORT_DIR)-quick

# naive and mnist-norm-1 run with the model the version-1 service served (models/baseline-...).
BASELINE_MODEL ?= models/baseline-mnist-norm-1
# The last commit whose service applied mnist-norm-1 (its training recipe made the baseline).
BASELINE_COMMIT ?= 17d20ba
BASELINE_TREE := var/baseline-tree

baseline-model: install ## Re-train models/baseline-mnist-norm-1 with the version-1 code (~6 min)
	rm -rf $(BASELINE_TREE) var/bentoml-baseline && git worktree prune
	git worktree add --detach $(BASELINE_TREE) $(BASELINE_COMMIT)
	cd $(BASELINE_TREE) && PYTHONPATH=$(CURDIR)/$(BASELINE_TREE) DIGITS_DATA_DIR=$(CURDIR)/var/data \
	  BENTOML_HOME=$(CURDIR)/var/bentoml-baseline $(CURDIR)/$(PY) -m training.train \
	  --report-dir $(CURDIR)/var/baseline-report
	$(PY) -m training.store --baseline var/bentoml-baseline $(BASELINE_MODEL)
	git worktree remove --force $(BASELINE_TREE)

evaluate: model ## Realistic evaluation (12 conditions x 300 images, three pipelines, HTTP) -> reports/evaluation/
	$(PY) -m evaluation.run --report-dir reports/evaluation --baseline-model $(BASELINE_MODEL)

# Learning from feedback (training/feedback/): the configured store (DIGITS_STORE_URL) -> a
# dataset file -> a fine-tuned candidate -> the promotion gate -> reports/retrain/.
FEEDBACK_DIR ?= var/feedback
RETRAIN_REPORT_DIR ?= reports/retrain
RETRAIN_ARGS ?=

feedback-export: install ## Export labelled predictions of DIGITS_STORE_URL to var/feedback/ (resumable)
	$(PY) -m training.feedback export --out $(FEEDBACK_DIR)

retrain: model ## Export feedback, fine-tune a candidate on it, promote it only if the gate accepts it
	dataset=$$($(PY) -m training.feedback export --out $(FEEDBACK_DIR)) && \
	  $(PY) -m training.feedback retrain --dataset "$$dataset" \
	  --report-dir $(RETRAIN_REPORT_DIR) $(RETRAIN_ARGS)
