# One-command setup: `make run` serves the service, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-topology setup browser deploy-tools lint migrate demo clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s); set PYTHON=python3.x" % sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@# face-recognition 1.3.0 requires `dlib` by name; its API runs on the dlib-bin wheel installed above.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps 'face-recognition==1.3.0'
	@touch $@

setup: $(VENV)/.installed

migrate: setup
	$(VENV)/bin/lifecert migrate

run: setup
	$(VENV)/bin/lifecert migrate
	$(VENV)/bin/lifecert demo --if-empty
	$(VENV)/bin/lifecert serve --host $(HOST) --port $(PORT)

# The browser tests use Debian's Chromium; this installs it (as root, with apt) if missing.
browser:
	@scripts/ensure-browser.sh

# The deploy/ tests run Caddy, coturn, promtool and pg_dump from Debian; installed if missing.
deploy-tools:
	@scripts/ensure-deploy-tools.sh

# The linters run first: a change that breaks the style or the types fails like a test.
# One pytest worker per core (a module's tests stay together, sharing its fixtures); the run
# ends with each test group's time (core, browser, and the groups other suites add).
# The quick loop: .venv/bin/python -m pytest -m "not browser" -x -q
test: setup browser deploy-tools lint
	$(PY) -m pytest -q -n auto --dist loadscope

# Several hosts on this machine: API processes in network namespaces of the tests' own (root;
# tests/topology, marker `topology`, timed apart). `make test` runs them too.
test-topology: setup deploy-tools
	$(PY) -m pytest -q -m topology tests/topology

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy app biometrics models

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache .mypy_cache .ruff_cache
