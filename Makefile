# Common commands. `make help` lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
BANKRISK := $(VENV)/bin/bankrisk
MODEL_DIR ?= models/champion
# Run after, without workers: tests/helpers/worker_groups.py says why.
SERIAL := tests/serving/test_schemathesis.py tests/prediction_log/test_faults.py
# pytest-xdist workers (the figures for 1, 2 and 3 on CI's 2 cores: docs/operations.md)
TEST_WORKERS ?= 3
DATA ?=
DATA_ARG := $(if $(DATA),--data $(DATA),)

.PHONY: help checkov-requirements dashboard install run train serve test lint typecheck unit mlflow-ui benchmark-quality benchmark-serving benchmark-batch clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# checkov (the Kubernetes manifests' security scan) pins old versions of pytest, packaging and
# others: it gets a virtual environment of its own, from hash-pinned requirements/checkov.txt
# (re-made by `make checkov-requirements`).
CHECKOV := .tools/checkov/bin/checkov
$(CHECKOV): requirements/checkov.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) .tools/checkov
	$(UV) pip install --quiet --require-hashes --python .tools/checkov/bin/python -r requirements/checkov.txt
	touch $(CHECKOV)

checkov-requirements: $(UV) ## Re-make requirements/checkov.txt (hash-pinned) from the newest checkov 3
	echo 'checkov>=3.2,<4' | $(UV) pip compile --quiet --generate-hashes --python-version 3.11 - -o requirements/checkov.txt

# --compile-bytecode: the packages' .pyc files written once, here. Where PYTHONDONTWRITEBYTECODE
# is set (this project's CI machines), Python would otherwise compile every module it imports
# again in every process: docs/operations.md.
install: $(UV) ## Create .venv with every extra from the lock file (uv.lock)
	$(UV) sync --frozen --all-extras --compile-bytecode --python $(PYTHON)

run: install ## Train a champion if there is none [DATA=PATH, else the official download], then serve on :8000
	@if [ -f $(MODEL_DIR)/manifest.json ]; then \
		echo "champion bundle found in $(MODEL_DIR)"; \
		if [ -n "$(DATA)" ]; then \
			echo "serving the existing champion in $(MODEL_DIR): DATA=$(DATA) was not used for training"; \
			echo "to retrain on it: make train DATA=$(DATA) (or remove $(MODEL_DIR) and make run again)"; \
		fi; \
	else \
		$(BANKRISK) train $(DATA_ARG) --model-dir $(MODEL_DIR); \
	fi
	$(BANKRISK) serve --model-dir $(MODEL_DIR)

serve: install ## Serve the champion bundle (http://127.0.0.1:8000/docs)
	$(BANKRISK) serve --model-dir $(MODEL_DIR)

train: install ## Train, register, and export the champion [DATA=PATH]
	$(BANKRISK) train $(DATA_ARG) --model-dir $(MODEL_DIR)

lint: install ## ruff
	$(VENV)/bin/ruff check src tests benchmarks deploy

typecheck: install ## mypy (strict)
	$(VENV)/bin/mypy

unit: install $(CHECKOV) ## Tests without lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --durations=30 $(addprefix --ignore=,$(SERIAL))  # tests/helpers/worker_groups.py; the slowest tests, for keeping CI under 15 minutes
	$(VENV)/bin/pytest -q $(SERIAL)

test: install lint typecheck unit ## Everything CI runs: lint, type check, the whole test suite

dashboard: install ## Re-make deploy/monitoring/grafana/dashboards/bankrisk.json from its code
	$(VENV)/bin/python deploy/monitoring/grafana/dashboard.py

mlflow-ui: install ## Open the MLflow UI on the local store (http://127.0.0.1:5000)
	$(VENV)/bin/mlflow ui --backend-store-uri $${MLFLOW_TRACKING_URI:-sqlite:///mlflow.db} --host 127.0.0.1 --port 5000

benchmark-quality: install ## 5-fold CV of the whole training pipeline on DATA (model quality bars)
	$(VENV)/bin/python benchmarks/model_quality.py $(DATA_ARG)

benchmark-serving: install ## Load-test the API vs its floor and `mlflow models serve` (needs a champion)
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(VENV)/bin/python benchmarks/serving.py --model-dir $(MODEL_DIR)

benchmark-batch: install ## Rows/s and peak RSS: `bankrisk score`, Spark local[2], mlflow.pyfunc on 1M rows (needs a champion)
	$(VENV)/bin/python benchmarks/batch_scoring.py --model-dir $(MODEL_DIR) $(DATA_ARG)

include deploy/delivery.mk

# What runs and tests leave in the work tree. Kept: .venv and .tools (`make install` state) and a
# downloaded data set in data/; an empty data/ (a failed download), partial downloads and the
# local prediction log (data/prediction-log: the SQLite log and the writer's spool) go.
CLEAN_DIRS := mlruns mlartifacts reports models .pytest_cache .mypy_cache .ruff_cache .hypothesis \
	build dist feature_repo/data data/prediction-log
CLEAN_FILES := mlflow.db mlflow.db-journal
clean: ## Remove the MLflow store and artifacts, models, reports, the local prediction log, caches (keeps .venv, downloaded data)
	rm -rf $(CLEAN_DIRS) $(CLEAN_FILES)
	find . \( -path ./.venv -o -path ./.tools -o -path ./.git \) -prune -o \
		-type d \( -name __pycache__ -o -name '*.egg-info' -o -name .pytest_cache \
		-o -name .mypy_cache -o -name .ruff_cache -o -name .hypothesis \) -prune -exec rm -rf {} + -o \
		-type f -name '*.py[co]' -exec rm -f {} +
	rm -f data/.*.part data/.*.part.*
	@if [ -d data ]; then rmdir data 2>/dev/null || echo "kept data/ (a downloaded data set)"; fi
