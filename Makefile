# Two commands for a newcomer: `make run` serves the app, `make test` runs the tests.
# `make test-pg` runs the tests on a throw-away PostgreSQL cluster (.ci/pg.sh); `make test-all`
# runs both suites side by side (what CI runs: on two cores, about a third less time).
# VENV=/path/to/venv uses an existing virtualenv as it is (nothing installed into it).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?= -q
DEV := $(if $(filter .venv,$(VENV)),$(VENV)/.dev-installed)
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test test-pg test-all db bench clean guide-images

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(BIN)/activate
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# axe-core (the accessibility test's checker), pinned by its package-lock.json; needs npm.
tests/axe/node_modules/axe-core/axe.min.js: tests/axe/package-lock.json
	cd tests/axe && npm ci --no-audit --no-fund --loglevel=error
	touch $@

db: $(BIN)/activate
	$(BIN)/flask --app app db upgrade

run: db
	$(BIN)/python app.py --host $(HOST) --port $(PORT)

test: $(DEV) tests/axe/node_modules/axe-core/axe.min.js
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-pg: $(DEV) tests/axe/node_modules/axe-core/axe.min.js
	.ci/pg.sh $(BIN)/python -m pytest $(PYTEST_ARGS)

# Both suites at once, each one's output printed whole when it ends; -k: one failing suite does
# not stop the other. The shared prerequisites (virtualenv, axe-core) are made once, first.
test-all:
	$(MAKE) -j2 -k --output-sync=target test test-pg

# The guide's screenshots (docs/img), retaken by the accessibility test; commit the result.
guide-images: $(VENV)/.dev-installed tests/axe/node_modules/axe-core/axe.min.js
	GUIDE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_accessibility.py

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/import.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/plan.py
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV)
