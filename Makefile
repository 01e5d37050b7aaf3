# opsconsole: the two commands a new user needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest nginx prometheus screenshots bench soak clean

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

demo: $(STAMP)
	@sh scripts/ensure-nginx.sh --optional
	$(BIN)/opsconsole demo

lint: $(STAMP)
	$(BIN)/ruff check opsconsole tests benchmarks
	$(BIN)/ruff format --check opsconsole tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy opsconsole

pytest: $(STAMP) nginx prometheus
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test: $(STAMP) nginx prometheus lint typecheck pytest

screenshots: $(STAMP) nginx
	$(BIN)/python -m opsconsole.demo.screenshots screenshots

bench: $(STAMP) nginx
	$(BIN)/python -m benchmarks.run_all

soak: $(STAMP) nginx
	$(BIN)/python -u -m benchmarks.soak

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
