# Two commands for a fresh machine with Python 3.11+: `make demo` and `make test`.
# Each creates the virtualenv in .venv on first use and installs what is missing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: demo test test-slow check bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aggregator demo $(if $(OUT),--out $(OUT),)

# Debian packages the tests use: chromium (site tests, skipped without it) and openssl (the mail
# tests' TLS certificate). Installed when missing and possible (root with apt-get).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "please install:$$missing (Debian: apt-get install$$missing)"; fi; \
	fi

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q

test-slow: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -m slow

check: $(STAMP)
	$(BIN)/ruff check aggregator tests benchmarks
	$(BIN)/ruff format --check aggregator
	$(BIN)/mypy aggregator

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
