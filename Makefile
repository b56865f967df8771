# The two commands of the README: `make run` and `make test`. Each sets itself up first
# (Debian packages of the lab, then a venv); a second call skips finished set-up.
SHELL := /bin/bash
# Debian's Python, not a per-user one: the lab runs Patroni as the `postgres` user, which must be
# able to read the interpreter.
PYTHON ?= /usr/bin/python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-installed
PYTEST_ARGS ?=

.PHONY: run test test-full lint setup system lab-down help
.DEFAULT_GOAL := help

help:
	@echo "make run        set up, bring the local lab up, run every experiment, print the report path"
	@echo "make test       set up, then lint, type-check and run the project's tests (CI runs this)"
	@echo "make test-full  like test, plus the whole seeded-violation matrix (slow)"

$(SYSTEM_STAMP): env/local/install
	bash env/local/install
	@mkdir -p $(VENV) && touch $@

$(STAMP): pyproject.toml $(SYSTEM_STAMP)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[app,dev]'
	@touch $@

system: $(SYSTEM_STAMP)
setup: $(STAMP)

run: setup
	$(BIN)/hasuite run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

test-full: lint
	HASUITE_FULL=1 $(BIN)/pytest $(PYTEST_ARGS)

lab-down:
	-$(BIN)/hasuite lab down
