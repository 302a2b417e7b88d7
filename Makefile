# Duet: the two commands a newcomer needs are `make run` and `make test`.
# Everything below is what those two commands do on a fresh machine.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
CONFIG ?= configs/duet.toml

# Debian packages the tests start for real (on loopback): a browser, a TURN server,
# Redis, PostgreSQL and nginx (the TLS proxy in front of a node); faketime moves the
# system date for the second unit run; a C compiler and Python's headers build the packet
# path in C (sfu/_native.c), which the tests require. `make test` installs the ones that
# are missing.
TEST_DEBS := chromium coturn redis-server postgresql faketime nginx gcc python3-dev

# The unit tests run a second time with the date moved this far ahead (libfaketime), so a
# test that only passes around today's date cannot land.
FAKE_DATE ?= +1000d

.PHONY: run test lint typecheck pytest deps clean

run: $(VENV)/.installed-run
	$(BIN)/duet serve --host $(HOST) --port $(PORT) --config $(CONFIG)

test: $(VENV)/.installed-dev $(VENV)/.debs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest
	FAKETIME_DONT_FAKE_MONOTONIC=1 faketime -f '$(FAKE_DATE)' $(BIN)/pytest -q -p no:cacheprovider tests/unit

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

# Installing also compiles sfu/_native.c (the packet path in C) with the system compiler.
$(VENV)/.installed-run: $(VENV)/.created pyproject.toml sfu/_native.c
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.created $(VENV)/.debs pyproject.toml sfu/_native.c
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# Install the Debian packages that are missing (needs root or sudo).
$(VENV)/.debs: $(VENV)/.created Makefile
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v turnserver >/dev/null || missing="$$missing coturn"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v faketime >/dev/null || missing="$$missing faketime"; \
	{ command -v nginx || test -x /usr/sbin/nginx; } >/dev/null || missing="$$missing nginx"; \
	command -v cc >/dev/null || missing="$$missing gcc"; \
	$(BIN)/python -c 'import os, sysconfig; assert os.path.exists(sysconfig.get_paths()["include"] + "/Python.h")' \
		2>/dev/null || missing="$$missing python3-dev"; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi
	touch $@

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
