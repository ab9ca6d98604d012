# MNIST data and model training (training/). training/README.md is the guide.
# `make model` (top-level Makefile) runs `python -m training.ensure`: train only when needed.

TRAIN_REPORT_DIR ?= reports/training

.PHONY: mnist train train-quick

mnist: install ## Fetch (once) and verify MNIST; print its source and SHA-256
	$(PY) -m training.data

train: install ## Train a new full model (always), store it as the latest, write the report
	$(PY) -m training.train --report-dir $(TRAIN_REPORT_DIR)

# A separate store, so a smoke model never becomes the `latest` that the service loads.
train-quick: install ## One-epoch smoke training into var/bentoml-quick (never served)
	BENTOML_HOME=$(CURDIR)/var/bentoml-quick $(PY) -m training.train --quick \
	  --report-dir $(TRAIN_REPORT_DIR)-quick
