# DriftGuard. Two commands do everything on a fresh machine:
#   make demo   run a drift check end to end on the local stack
#   make test   every check and test (what CI runs)
# Tools are installed into the project: .venv (Python), node_modules (Node).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV        := .venv
PY_STAMP    := $(VENV)/.installed
NODE_STAMP  := node_modules/.installed
# The machine image's provider mirror when it exists; without one, `terraform
# init` downloads the provider pinned in the lock file, once, into a cache.
TF_PLUGINS  ?= $(wildcard /opt/tf-plugins)
TF_PLUGIN_CACHE := $(CURDIR)/target/terraform/plugin-cache
TF_INIT_SOURCE := $(if $(TF_PLUGINS),-plugin-dir=$(TF_PLUGINS),)
TF_INIT_ENV := $(if $(TF_PLUGINS),,TF_PLUGIN_CACHE_DIR=$(TF_PLUGIN_CACHE))
TF_DATA     := $(CURDIR)/target/terraform
# Every folder of functions/ but lib/ (the libraries) and cli/ is one Lambda.
FUNCTIONS   := $(filter-out lib cli,$(notdir $(patsubst %/,%,$(wildcard functions/*/))))
LAMBDA_TARGET := aarch64-unknown-linux-gnu
ASL_RENDERED := target/asl/drift-guard.rendered.json

# Terraform needs no CLI configuration here; an unset or missing one becomes /dev/null.
export TF_CLI_CONFIG_FILE := $(if $(wildcard $(TF_CLI_CONFIG_FILE)),$(TF_CLI_CONFIG_FILE),/dev/null)
export TF_IN_AUTOMATION := 1
export CARGO_TERM_COLOR ?= never

.PHONY: help test demo e2e iam-lint package bench fmt fmt-check clippy rust-test asl-check terraform-check checkov tools clean-tools

help:
	@echo "make demo     run DriftGuard's main job on the local stack"
	@echo "make test     every check and test (fmt, clippy, unit/contract/end-to-end tests, ASL, Terraform, checkov)"
	@echo "make e2e      end-to-end scenarios on the local stack (also part of make test)"
	@echo "make iam-lint only the e2e IAM lint: parliament on every policy the module stored"
	@echo "make package  build one arm64 bootstrap.zip per Lambda into target/lambda/<function>/"
	@echo "make fuzz     a long fuzzing run: FUZZ_CASES inputs per target, 4 targets (default 1,000,000 in all)"
	@echo "make fmt      format Rust and Terraform"

# ---- tools -----------------------------------------------------------------
$(PY_STAMP): integration-tests/requirements.txt
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r integration-tests/requirements.txt
	@touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

tools: $(PY_STAMP) $(NODE_STAMP)

clean-tools:
	rm -rf $(VENV) node_modules

# ---- checks ----------------------------------------------------------------
test: fmt-check clippy rust-test asl-check terraform-check checkov e2e
	@echo "make test: all checks passed"

fmt:
	cargo fmt --all
	terraform fmt -recursive terraform

fmt-check:
	cargo fmt --all -- --check
	terraform fmt -check -recursive terraform

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

# The end-to-end scenarios (driftguard-integration-tests) run in `e2e`.
rust-test: $(PY_STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo test --workspace --locked --exclude driftguard-integration-tests

# The contract test (rust-test) renders the ASL template to $(ASL_RENDERED).
asl-check: $(NODE_STAMP) rust-test
	node_modules/.bin/asl-validator --json-path $(ASL_RENDERED)

terraform-check:
	mkdir -p $(TF_DATA) $(TF_PLUGIN_CACHE)
	cd terraform && $(TF_INIT_ENV) TF_DATA_DIR=$(TF_DATA)/root terraform init -backend=false -input=false $(TF_INIT_SOURCE) >/dev/null
	cd terraform && TF_DATA_DIR=$(TF_DATA)/root terraform validate
	cd terraform/modules/event-forwarder && $(TF_INIT_ENV) TF_DATA_DIR=$(TF_DATA)/forwarder terraform init -backend=false -input=false $(TF_INIT_SOURCE) >/dev/null
	cd terraform/modules/event-forwarder && TF_DATA_DIR=$(TF_DATA)/forwarder terraform validate

checkov: $(PY_STAMP)
	$(VENV)/bin/checkov --framework terraform --skip-download --quiet --compact \
		--config-file terraform/.checkov.yaml -d terraform

# A long fuzzing run (not part of `make test`, which runs a short round of the
# same targets): admission, plan summary, Slack messages and step inputs, each
# with structure-aware generators; prints the counts. Optimised build without LTO.
FUZZ_CASES ?= 250000
fuzz:
	DRIFTGUARD_FUZZ_CASES=$(FUZZ_CASES) cargo test --locked --profile fuzz -p driftguard-core --test fuzz -- --nocapture

# ---- build -----------------------------------------------------------------
package: $(PY_STAMP)
	rustup target list --installed | grep -qx $(LAMBDA_TARGET) || rustup target add $(LAMBDA_TARGET)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release --arm64 --output-format zip \
		$(addprefix --package ,$(FUNCTIONS))
	@for f in $(FUNCTIONS); do ls -l target/lambda/$$f/bootstrap.zip; done

# ---- local stack -------------------------------------------------------------
# Both apply terraform/ to moto, run the real state machine in moto's Step
# Functions engine and the real Lambda binaries with `cargo lambda watch`
# (integration-tests/README.md). Tools come from .venv; the hashicorp/aws
# provider from $(TF_PLUGINS) when there is a mirror, else from the registry.
demo: $(PY_STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TF_PLUGINS=$(TF_PLUGINS) cargo run --locked -p driftguard-integration-tests --bin demo

# Includes the dashboard browser check (headless Chromium via playwright-core):
# skipped with a message where Chromium is missing, a failure under CI=true.
e2e: $(PY_STAMP) $(NODE_STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TF_PLUGINS=$(TF_PLUGINS) cargo test --locked -p driftguard-integration-tests -- --nocapture

# Scenario "iam" of the e2e suite alone (part of `make e2e`): applies the module
# with every optional policy on, reads the stored policies back from moto and
# lints them with parliament (justified findings: integration-tests/iam-lint.yaml).
iam-lint: $(PY_STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TF_PLUGINS=$(TF_PLUGINS) DRIFTGUARD_E2E_ONLY=iam \
		cargo test --locked -p driftguard-integration-tests --test scenarios -- --nocapture

# Benchmarks (not part of `make test`): measures on the local stack and writes
# docs/benchmarks.md. Sizes come from `make package` (arm64); the process
# measurements use native release builds, since arm64 binaries cannot run here.
# BENCH_ARGS=--quick runs a small version of every part; BENCH_ARGS="--only 6"
# only the drift summary at scale (no stack, no packaging; about a minute);
# BENCH_ARGS="--only 7" only the fixed against the learned poll schedule
# (the same checks on the stack, and simulated; no packaging or release build).
bench: $(PY_STAMP)
	@mkdir -p target && date +%s > target/.bench-started
	@case " $(BENCH_ARGS) " in *" --only 6 "*|*" --only 7 "*|*" --only 6,7 "*) ;; *) test -f target/lambda/on-failure/bootstrap.zip || $(MAKE) package ;; esac
	case " $(BENCH_ARGS) " in *" --only 7 "*) ;; *" --only 6 "*|*" --only 6,7 "*) cargo build --release --locked --bin driftguard ;; \
	  *) cargo build --release --locked --bin driftguard $(addprefix --bin ,$(FUNCTIONS)) ;; esac
	cargo build --locked -p driftguard-integration-tests --bin peak-rss
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TF_PLUGINS=$(TF_PLUGINS) BENCH_MAKE_STARTED=$$(cat target/.bench-started) \
		cargo run --locked -p driftguard-integration-tests --bin bench -- $(BENCH_ARGS)
