# ara-ldap: the two set-up commands are `make demo` and `make test` (README.md).
# Both install what is missing: Debian's slapd and ldap-utils (apt), then this package
# and its development dependencies in a virtualenv (.venv). Under CI=true also docker.io,
# docker-compose and debootstrap, for the compose/ stack's test (tests/docker).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := slapd ldap-utils

.PHONY: demo test check lint typecheck bench system-deps venv clean help

help:
	@echo "make demo   - start a throwaway directory loaded with ldif/ (Ctrl-C stops it)"
	@echo "make test   - run the test suite, ruff and mypy (installs what is missing)"
	@echo "make bench  - run the benchmarks in bench/ (not part of the tests)"

# --- set-up ----------------------------------------------------------------------------
system-deps:
	@missing=""; \
	[ -x /usr/sbin/slapd ] || command -v slapd >/dev/null 2>&1 || missing="$$missing slapd"; \
	command -v ldapadd >/dev/null 2>&1 || missing="$$missing ldap-utils"; \
	$(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	if [ "$${CI:-}" = true ]; then \
	  : "CI only: tests/docker builds and runs compose/ (elsewhere it skips without them)"; \
	  command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || missing="$$missing docker.io"; \
	  command -v docker-compose >/dev/null 2>&1 || missing="$$missing docker-compose"; \
	  command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing="$$missing debootstrap"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  command -v apt-get >/dev/null 2>&1 || { echo "Please install:$$missing (no apt-get here)"; exit 1; }; \
	  echo "Installing with apt-get:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ara-ldap needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'

$(BIN)/.installed: pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

venv: system-deps $(BIN)/.installed

# --- the two commands ------------------------------------------------------------------
demo: venv
	$(BIN)/ara-ldap demo

test: venv
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory check

check: lint typecheck

lint: venv
	$(BIN)/ruff check ara_ldap tests bench

typecheck: venv
	$(BIN)/mypy

bench: venv
	$(BIN)/python bench/lookup.py
	$(BIN)/python bench/backends.py
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
