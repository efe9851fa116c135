# One entry point for everything that runs offline. `make test` builds the venv from
# nothing, then lints and runs every test tier; CI (.ci/run) prepares the machine and calls
# exactly that. `make unit` is the fast loop.
SHELL := /bin/bash
PYTHON ?= python3
VENV := venv
BIN := $(VENV)/bin
STACK ?= prod
PYTEST := $(BIN)/python -m pytest -q

.PHONY: redeploy test venv lint unit provider scenarios adoption container synth check-template preflight bootstrap-policy mutate mutation-score bench bench-container clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@echo "make: creating $(VENV)/ and installing requirements-dev.txt (first run only: a few minutes)"
	$(PYTHON) -m venv $(VENV)
	@# pip names each package as it goes; offline/progress.py adds a line when pip is quiet.
	$(BIN)/python -m offline.progress $(BIN)/python -m pip install --disable-pip-version-check --upgrade pip
	$(BIN)/python -m offline.progress $(BIN)/python -m pip install --disable-pip-version-check -r requirements-dev.txt
	@echo "make: $(VENV)/ is ready"
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint build-image/Dockerfile build-image/tools.Dockerfile examples/app-repo/Dockerfile
	$(BIN)/shellcheck .ci/run build-image/start-dockerd build-image/image-digest build-image/image-published build-image/review-change-set build-image/recover-stack build-image/verify-environment build-image/record-release tests/container/prepare-host
	$(BIN)/cfn-lint --append-rules policy/template_rules --template examples/infra-repo/stack.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.dependabot .github/dependabot.yml

# The tiers. unit: the program under mocks, the policies, the proofs, the buildspecs against
# stubs (seconds). provider: the real AWS provider's validation through Terraform (skipped with
# a reason where Terraform or its provider mirror is absent). scenarios: the declared pipeline
# run by the pipeline-run simulator through day-two scenarios, with the real buildspec, review
# and recovery against stubs (half a minute). container: the build image built and run for
# real (minutes; skipped with a reason where Docker cannot run, never under CI=true).
unit: venv
	$(PYTEST) -n auto --ignore=tests/container --ignore=tests/test_preflight.py --ignore=tests/test_bootstrap_policy_provider.py --ignore=tests/scenarios --ignore=tests/adoption

provider: venv
	$(PYTEST) tests/test_preflight.py tests/test_bootstrap_policy_provider.py

scenarios: venv
	$(PYTEST) tests/scenarios

# adoption: a copy of the repository with its root stack files rewritten for another
# application runs lint, unit, provider and scenarios (minutes).
adoption: venv
	$(PYTEST) tests/adoption

container: venv
	$(PYTEST) tests/container

test: lint unit provider scenarios adoption container

# Offline review of a stack: build/synth/$(STACK)/{resources.json,pipeline.md}.
synth: venv
	$(BIN)/python -m offline.synth $(STACK)

# Your template against the template contract (cfn-lint with policy/template_rules), one line
# per finding: make check-template TEMPLATE=../infra/stack.yml [STACK=prod]
TEMPLATE ?= examples/infra-repo/stack.yml
check-template: venv
	$(BIN)/python -m offline.check_template $(TEMPLATE) $(if $(filter command line,$(origin STACK)),--stack $(STACK))

# The role Pulumi assumes in each target account of a stack: its trust and its exact permissions
# (docs/cross-account.md), written to build/bootstrap/$(STACK)/<account>/:
# make bootstrap-policy STACK=prod [ACCOUNT=<id>] [TRUSTED=<ARN of the role that runs pulumi up>]
ACCOUNT ?=
TRUSTED ?=
bootstrap-policy: venv
	$(BIN)/python -m offline.bootstrap_policy $(STACK) --out build/bootstrap/$(STACK) $(if $(ACCOUNT),--account $(ACCOUNT)) $(if $(TRUSTED),--trusted $(TRUSTED))

# The real AWS provider's input validation, offline (Terraform + a hashicorp/aws mirror):
# every committed stack, the four-environment, waves and regions test stacks.
preflight: venv
	$(BIN)/python -m offline.preflight dev prod
	$(BIN)/python -m offline.preflight four-environments --stacks-dir tests/fixtures/stacks
	$(BIN)/python -m offline.preflight waves regions --stacks-dir tests/fixtures/stacks

# Mutation testing of the modules where a wrong value ships to production (pyproject.toml,
# [tool.mutmut]); a command that prints a score, not part of `make test`. Long: narrow it
# with MUTANTS, mutmut's name globs, e.g. make mutate MUTANTS='policy.rules*'.
MUTANTS ?=
mutate: venv
	$(BIN)/mutmut run --max-children $$(nproc) $(MUTANTS) || true
	$(BIN)/python -m dev.mutation_score

mutation-score: venv
	$(BIN)/python -m dev.mutation_score

# Release an environment's last good release again, from its release record, when CodePipeline
# cannot roll back (docs/operations.md). Needs AWS credentials; says what it would do unless
# ARGS=--execute. make redeploy PIPELINE=<name> TABLE=<name> ENVIRONMENT=<env> [ARGS=...]
redeploy: venv
	$(BIN)/python -m offline.redeploy --pipeline $(PIPELINE) --table $(TABLE) --environment $(ENVIRONMENT) $(ARGS)

# Numbers, not a test: synth and unit-test medians against the import of the SDK modules used.
bench: venv
	$(BIN)/python -m dev.bench

# Numbers of the container tier: the build image cold and warm, the application build cold
# and with the registry cache, the image's size next to the tools image's. Needs what
# `make container` needs.
bench-container: venv
	$(BIN)/python -m dev.bench_container

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache mutants
