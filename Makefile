# One entry point for everything that runs offline. `make test` builds the venv from
# nothing, then lints and tests; CI (.ci/run) calls exactly that.
SHELL := /bin/bash
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
STACK ?= prod

.PHONY: test venv lint unit synth bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint build-image/Dockerfile
	$(BIN)/shellcheck .ci/run
	$(BIN)/cfn-lint examples/infra-repo/stack.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

unit: venv
	$(BIN)/python -m pytest -q

test: lint unit

# Offline review of a stack: build/synth/$(STACK)/{resources.json,pipeline.md}.
synth: venv
	$(BIN)/python -m offline.synth $(STACK)

# Numbers, not a test: synth and unit-test times against the bare `import pulumi_aws`.
bench: venv
	$(BIN)/python -m offline.bench

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
