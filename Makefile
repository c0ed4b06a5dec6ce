# The two commands of the README: `make demo` (the main job) and `make test`.
# Each creates .venv when missing and installs what is needed; a second run reinstalls nothing
# unless pyproject.toml changed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pagefit-installed
DEMO_OUT ?= demo-output

.PHONY: demo test lint format bench clean venv browser

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# pip takes torch/torchvision from this machine's disk when they lie there (see README).
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,serve,lora,ray]'
	@touch $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/pagefit demo --out $(DEMO_OUT)

# The browser test of `pagefit serve` drives Debian's chromium (CI runs as root and installs it).
browser:
	@test -x /usr/bin/chromium || { apt-get update && apt-get install -y chromium; } \
		|| echo "warning: no /usr/bin/chromium: the browser test skips (and fails under CI=true)"

test: $(STAMP) browser
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks examples
	$(BIN)/ruff format src tests benchmarks examples

# Every benchmarks/*.py (never part of `make test`); refreshes benchmarks/RESULTS.md.
bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
