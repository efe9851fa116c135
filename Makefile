# One entry point for everything that runs offline. `make test` builds the venv from
# nothing, then lints and tests; CI (.ci/run) calls exactly that.
SHELL := /bin/bash
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
STACK ?= prod

.PHONY: test venv lint unit synth preflight mutate mutation-score bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@echo "make: creating $(VENV)/ and installing requirements-dev.txt (first run only: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@echo "make: $(VENV)/ is ready"
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint build-image/Dockerfile
	$(BIN)/shellcheck .ci/run build-image/start-dockerd
	$(BIN)/cfn-lint examples/infra-repo/stack.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

unit: venv
	@echo "make: running the tests (about a minute; the provider preflight runs Terraform)"
	$(BIN)/python -m pytest -q

test: lint unit

# Offline review of a stack: build/synth/$(STACK)/{resources.json,pipeline.md}.
synth: venv
	$(BIN)/python -m offline.synth $(STACK)

# The real AWS provider's input validation, offline (Terraform + a hashicorp/aws mirror):
# every committed stack and the four-environment test stack. `make test` runs the same
# checks as tests (tests/test_preflight.py), skipped with a reason where Terraform is absent.
preflight: venv
	$(BIN)/python -m offline.preflight dev prod
	$(BIN)/python -m offline.preflight four-environments --stacks-dir tests/fixtures/stacks

# Mutation testing of the modules where a wrong value ships to production (pyproject.toml,
# [tool.mutmut]); a command that prints a score, not part of `make test`. Long: narrow it
# with MUTANTS, mutmut's name globs, e.g. make mutate MUTANTS='policy.rules*'.
MUTANTS ?=
mutate: venv
	$(BIN)/mutmut run --max-children $$(nproc) $(MUTANTS) || true
	$(BIN)/python -m offline.mutation_score

mutation-score: venv
	$(BIN)/python -m offline.mutation_score

# Numbers, not a test: synth and unit-test medians against the import of the SDK modules used.
bench: venv
	$(BIN)/python -m offline.bench

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache mutants
