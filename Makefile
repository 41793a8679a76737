# Developer and CI entry points. `make test` and `make run` start the local stack first.

# Python used to create the virtualenv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK := $(PY) -m stack
# Extra arguments for pytest, for example PYTEST_ARGS='-m "not integration" -x'.
PYTEST_ARGS ?=

.PHONY: install stack-up stack-down stack-status test run

$(PY):
	$(PYTHON) -m venv $(VENV)

# The stamp file makes a repeated `make install` free until pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

stack-up: install
	$(STACK) up

# Needs only the virtualenv, so it also works after a failed install.
stack-down: | $(PY)
	$(STACK) down

stack-status: | $(PY)
	$(STACK) status

test: install stack-up
	eval "$$($(STACK) env)" && $(VENV)/bin/pytest $(PYTEST_ARGS)

# The main job keeps its embedded SQLite database unless DATABASE_URL was set before `make run`.
run: install stack-up
	user_database_url="$${DATABASE_URL-}"; \
	eval "$$($(STACK) env)" && \
	if [ -n "$$user_database_url" ]; then export DATABASE_URL="$$user_database_url"; else unset DATABASE_URL; fi && \
	$(PY) -m streams.main_job
