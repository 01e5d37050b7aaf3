# opsconsole: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-fleet test lint typecheck pytest nginx prometheus sshd screenshots bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# nginx from Debian (nginx-light) when it is missing and we are root.
nginx:
	@sh scripts/ensure-nginx.sh

# promtool (Debian prometheus) for the tests of the exporter and contrib/, when missing and root.
prometheus:
	@sh scripts/ensure-prometheus.sh

# sshd from Debian (openssh-server) for the fleet demo and tests; its system service is
# stopped again (the demo and the tests run their own, on loopback, with their own keys).
sshd:
	@sh scripts/ensure-debian.sh openssh-server /usr/sbin/sshd --stop ssh

demo: $(STAMP)
	@sh scripts/ensure-nginx.sh --optional
	$(BIN)/opsconsole demo

# A fleet: 3 demo stacks, each reached over ssh through a real local sshd.
demo-fleet: $(STAMP) sshd
	@sh scripts/ensure-nginx.sh --optional
	$(BIN)/opsconsole demo --hosts 3

lint: $(STAMP)
	$(BIN)/ruff check opsconsole tests benchmarks
	$(BIN)/ruff format --check opsconsole tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy opsconsole

# Two workers (pytest-xdist), whole files per worker: the suite mostly waits on real processes.
# `make pytest PYTEST_XDIST=` runs it in one process; PYTEST_ARGS adds options (e.g. -m "not integration").
PYTEST_XDIST ?= -n 2 --dist loadfile
pytest: $(STAMP) nginx prometheus sshd
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_XDIST) $(PYTEST_ARGS)

test: $(STAMP) nginx prometheus sshd lint typecheck pytest

screenshots: $(STAMP) nginx
	$(BIN)/python -m opsconsole.demo.screenshots screenshots

bench: $(STAMP) nginx
	$(BIN)/python -m benchmarks.run_all

soak: $(STAMP) nginx
	$(BIN)/python -u -m benchmarks.soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
