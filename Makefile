# Two commands for a fresh machine with Python 3.11+: `make demo` and `make test`.
# Each creates the virtualenv in .venv on first use and installs what is missing, at the exact
# versions and hashes of the lock files (requirements.lock for the application,
# requirements-dev.lock for it and the test tools); `make lock` refreshes both from pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
APP := $(VENV)/.app-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)
DEV := $(VENV)/.dev-$(shell cat pyproject.toml requirements-dev.lock | sha1sum | cut -c1-12)
# The lock files are made for the Python the project runs on here.
LOCK_FOR := --generate-hashes --python-version 3.11

.PHONY: demo test test-slow check bench lock system-deps clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(APP): pyproject.toml requirements.lock | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.app-*
	touch $(APP)

$(DEV): pyproject.toml requirements-dev.lock | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.dev-* $(VENV)/.app-*
	touch $(DEV) $(APP)

demo: $(APP)
	$(BIN)/aggregator demo $(if $(OUT),--out $(OUT),)

# Debian packages the tests use: chromium (site tests, skipped without it), openssl (the mail
# tests' TLS certificate), postgresql (the PostgreSQL store's tests, skipped without it) and
# iproute2 (a network namespace to cut a clusterer's machine off, skipped without it or root).
# Installed when missing and possible (root with apt-get).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "please install:$$missing (Debian: apt-get install$$missing)"; fi; \
	fi

test: $(DEV) system-deps
	$(BIN)/python -m pytest -q

test-slow: $(DEV) system-deps
	$(BIN)/python -m pytest -q -m slow

check: $(DEV)
	$(BIN)/ruff check aggregator tests benchmarks
	$(BIN)/ruff format --check aggregator
	$(BIN)/mypy aggregator

bench: $(DEV)
	$(BIN)/python -m benchmarks

# Refresh both lock files to the newest versions pyproject.toml allows.
lock: $(DEV)
	$(BIN)/uv pip compile pyproject.toml --upgrade $(LOCK_FOR) --quiet -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra dev --upgrade $(LOCK_FOR) --quiet -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
