# Delivery targets: the serving image, its build-and-serve test, Cloud Run canaries.
# Included by the Makefile (`include deploy/delivery.mk`), which defines VENV, UV and MODEL_DIR;
# the defaults below only apply when this file is used on its own (make -f deploy/delivery.mk).
VENV ?= .venv
UV ?= .tools/bin/uv
MODEL_DIR ?= models/champion
SHELL := /bin/bash

# Image
IMAGE_NAME ?= bankrisk
GIT_SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
GIT_REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
PROJECT_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1)
IMAGE_TAG ?= $(PROJECT_VERSION)-$(GIT_SHA)
IMAGE ?= $(IMAGE_NAME):$(IMAGE_TAG)
SOURCE_URL ?= https://github.com/bankrisk/bankrisk
# VERSION=N bakes registry version N; empty bakes models/champion (fetched from @champion if missing)
VERSION ?=
DOCKER ?= $(shell test -x /usr/bin/docker && echo /usr/bin/docker || echo docker)
ENGINE_DIR ?= $(or $(TMPDIR),/tmp)/bankrisk-engine
# The private Docker engine for machines with no Docker service is test support, not delivery.
ENGINE_SCRIPTS := tests/delivery/engine

# Cloud Build and Cloud Run (deploy/canary.sh); DRY_RUN=1 prints the gcloud commands, runs none
DRY := $(if $(filter 1 true yes,$(DRY_RUN)),1,0)
# In a dry run only the gcloud commands are printed, not the recipe lines that print them.
Q := $(if $(filter 1,$(DRY)),@,)
GCLOUD ?= gcloud
PROJECT_ID ?=
REGION ?= europe-west1
SERVICE ?= bankrisk
TAG ?= canary
PERCENT ?=
REVISION ?=
AR_IMAGE ?= $(REGION)-docker.pkg.dev/$(PROJECT_ID)/bankrisk/$(IMAGE_NAME):$(GIT_REVISION)
CANARY = PROJECT_ID=$(PROJECT_ID) REGION=$(REGION) SERVICE=$(SERVICE) TAG=$(TAG) \
	DRY_RUN=$(DRY) GCLOUD=$(GCLOUD) bash deploy/canary.sh

.PHONY: system-deps serve-requirements bundle image engine-up engine-down container-test \
	cloud-build canary-init canary-deploy canary-shift canary-promote canary-rollback canary-status

system-deps: ## Install Docker engine, debootstrap, chromium, postgresql, prometheus, alertmanager, redis-server, Java 17 (apt; only what is missing)
	@missing=""; \
	command -v dockerd >/dev/null 2>&1 || missing="$$missing docker.io"; \
	{ command -v containerd >/dev/null 2>&1 || command -v dockerd >/dev/null 2>&1; } || missing="$$missing containerd"; \
	{ command -v runc >/dev/null 2>&1 || command -v dockerd >/dev/null 2>&1; } || missing="$$missing runc"; \
	command -v debootstrap >/dev/null 2>&1 || missing="$$missing debootstrap"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v promtool >/dev/null 2>&1 || missing="$$missing prometheus"; \
	command -v amtool >/dev/null 2>&1 || missing="$$missing prometheus-alertmanager"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	ls /usr/lib/jvm/java-17-openjdk-*/bin/java >/dev/null 2>&1 || missing="$$missing openjdk-17-jre-headless"; \
	if [ -n "$$missing" ]; then \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
		echo "system-deps: installing$$missing"; \
		$$sudo apt-get update -qq >/dev/null && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends \
			$$missing >/dev/null; \
	fi

serve-requirements: $(UV) ## Re-export requirements/serve.txt, serve-features.txt and console.txt (hash-pinned) from uv.lock
	@$(UV) export --quiet --frozen --no-dev --no-emit-project --extra serve -o requirements/serve.txt
	@echo "wrote requirements/serve.txt: $$(grep -c '^[A-Za-z0-9]' requirements/serve.txt) hash-pinned packages from uv.lock"
	@$(UV) export --quiet --frozen --no-dev --no-emit-project --extra serve --extra features -o requirements/serve-features.txt
	@echo "wrote requirements/serve-features.txt (the image with Feast): $$(grep -c '^[A-Za-z0-9]' requirements/serve-features.txt) packages"
	@$(UV) export --quiet --frozen --no-dev --no-emit-project --extra console --extra features -o requirements/console.txt
	@echo "wrote requirements/console.txt (the image with the console): $$(grep -c '^[A-Za-z0-9]' requirements/console.txt) packages"

bundle: ## Put the bundle to bake in MODEL_DIR: registry version VERSION, else @champion if missing
	@if [ -n "$(VERSION)" ]; then \
		$(VENV)/bin/python deploy/fetch_bundle.py --dest $(MODEL_DIR) --version $(VERSION); \
	elif [ -f $(MODEL_DIR)/manifest.json ]; then \
		echo "using the bundle in $(MODEL_DIR) as is"; \
	else \
		$(VENV)/bin/python deploy/fetch_bundle.py --dest $(MODEL_DIR) --alias champion; \
	fi

image: bundle ## Build the serving image [VERSION=N] [IMAGE=name:tag] (no Docker service: make engine-up)
	@test "$(abspath $(MODEL_DIR))" = "$(abspath models/champion)" || \
		{ echo "the Dockerfile bakes models/champion; MODEL_DIR=$(MODEL_DIR) is not it" >&2; exit 2; }
	@if [ -z "$$DOCKER_HOST" ] && [ -S $(ENGINE_DIR)/docker.sock ]; then \
		export DOCKER_HOST=unix://$(ENGINE_DIR)/docker.sock; fi; \
	model_version=$$($(VENV)/bin/python -c 'import json; print(json.load(open("$(MODEL_DIR)/metadata.json"))["version"])'); \
	set -x; \
	DOCKER_BUILDKIT=1 $(DOCKER) build --network host \
		--build-arg VERSION=$(PROJECT_VERSION) \
		--build-arg REVISION=$(GIT_REVISION) \
		--build-arg SOURCE=$(SOURCE_URL) \
		--build-arg MODEL_VERSION=$$model_version \
		--build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) \
		-t $(IMAGE) -t $(IMAGE_NAME):model-$$model_version . && \
	$(DOCKER) image inspect -f 'size: {{.Size}} bytes' $(IMAGE)

engine-up: system-deps ## Start a private Docker engine, for a machine with no Docker service
	@BANKRISK_ENGINE_DIR=$(ENGINE_DIR) bash $(ENGINE_SCRIPTS)/engine.sh up

engine-down: ## Stop the private Docker engine started by engine-up
	@BANKRISK_ENGINE_DIR=$(ENGINE_DIR) bash $(ENGINE_SCRIPTS)/engine.sh down

container-test: system-deps ## Build the image on a private engine, serve, predict, clean up
	VENV=$(VENV) bash $(ENGINE_SCRIPTS)/container_test.sh

# DRY_RUN=1 fetches nothing and prints the exact command; the model version is VERSION, else the
# bundle's in MODEL_DIR, else (no bundle yet) a placeholder for the @champion a real run fetches.
cloud-build: $(if $(filter 1,$(DRY)),,bundle) ## Build and push with Cloud Build PROJECT_ID=my-project [DRY_RUN=1] (uploads per .gcloudignore)
	@test -n "$(PROJECT_ID)" || { echo "PROJECT_ID is required" >&2; exit 2; }
	@[[ "$(PROJECT_ID)" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$$ ]] || { echo "invalid project id '$(PROJECT_ID)'" >&2; exit 2; }
	@[[ "$(REGION)" =~ ^[a-z]+-[a-z]+[0-9]$$ ]] || { echo "invalid region '$(REGION)'" >&2; exit 2; }
	@test "$(abspath $(MODEL_DIR))" = "$(abspath models/champion)" || \
		{ echo "cloudbuild.yaml bakes models/champion; MODEL_DIR=$(MODEL_DIR) is not it" >&2; exit 2; }
	@if [ -f $(MODEL_DIR)/metadata.json ] && { [ "$(DRY)" = 0 ] || [ -z "$(VERSION)" ]; }; then \
		model_version=$$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' $(MODEL_DIR)/metadata.json); \
	elif [ -n "$(VERSION)" ]; then \
		model_version="$(VERSION)"; \
	else \
		model_version=CHAMPION_VERSION; \
		echo "cloud-build: no bundle in $(MODEL_DIR): a real run fetches @champion first and puts its version in _MODEL_VERSION" >&2; \
	fi; \
	cmd=($(GCLOUD) builds submit --project "$(PROJECT_ID)" --config cloudbuild.yaml \
		"--substitutions=_REGION=$(REGION),_TAG=$(GIT_REVISION),_VERSION=$(PROJECT_VERSION),_MODEL_VERSION=$$model_version" .); \
	printed=""; for a in "$${cmd[@]}"; do \
		if [[ "$$a" =~ ^[A-Za-z0-9_@%+=:,./-]+$$ ]]; then printed+="$$a "; else printed+="$$(printf '%q' "$$a") "; fi; \
	done; \
	echo "$${printed% }"; \
	if [ "$(DRY)" = 1 ]; then exit 0; fi; \
	"$${cmd[@]}"

canary-init: ## Create/replace the Cloud Run service from deploy/service.yaml [AR_IMAGE=...]
	$(Q)$(CANARY) init $(AR_IMAGE)

canary-deploy: ## New revision with no traffic under TAG (default canary) [AR_IMAGE=...]
	$(Q)$(CANARY) deploy $(AR_IMAGE)

canary-shift: ## Send PERCENT of traffic to the canary (PERCENT=10)
	@test -n "$(PERCENT)" || { echo "PERCENT is required (0-100)" >&2; exit 2; }
	$(Q)$(CANARY) shift $(PERCENT)

canary-promote: ## Send 100% of traffic to the canary
	$(Q)$(CANARY) promote

canary-rollback: ## Canary back to 0% [REVISION=name: 100% to that revision]
	$(Q)$(CANARY) rollback $(REVISION)

canary-status: ## Show revisions and traffic
	$(Q)$(CANARY) status

# Operations (deploy/monitoring/): alerts, dashboard, SLO; see the README's Operations section.
.PHONY: monitoring-up
monitoring-up: system-deps ## The API with Prometheus (rules, alerts) and Grafana if installed, on 127.0.0.1 until Ctrl-C
	MODEL_DIR=$(MODEL_DIR) BANKRISK=$(VENV)/bin/bankrisk bash deploy/monitoring/up.sh
