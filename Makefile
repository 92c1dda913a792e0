# Two entry points: `make run` (a one-node in-memory server) and `make test` (the whole suite).
# Both create .venv and install what they need, system packages included (apt, as root).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8765

.PHONY: run test lint bench venv system-run system-test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

system-run:
	@scripts/system-deps.sh run

system-test:
	@scripts/system-deps.sh test

run: venv system-run
	$(PY) run_server.py --host $(HOST) --port $(PORT)

# pytest with two workers: most of the suite waits on real-time audio, not on the CPU. A file
# stays on one worker, so module-scoped servers and browsers start once.
test: venv system-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: venv system-test
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache test-artifacts
