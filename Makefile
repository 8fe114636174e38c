# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VERSION ?= 1.0
IMAGE_REPO ?= probelab/simpleweb

.PHONY: demo test lint image bench clean venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/probelab demo

test: $(STAMP)
	@scripts/ensure-chromium
	@scripts/ensure-nftables
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/ruff check src tests bench
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

# Needs a container engine (docker or podman); none runs on the CI machine.
image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE_REPO):$(VERSION) -f deploy/Dockerfile .

bench: $(STAMP)
	@scripts/ensure-nftables
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
