# The two commands of the README, plus the benchmark. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
TAOQI := $(VENV)/bin/taoqi
STAMP := $(VENV)/.installed
# The demo world (README "The generator"); override e.g. `make demo USERS=20000`.
USERS ?= 100000
ROOT ?= ./lakehouse

.PHONY: demo test bench bench-selector install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench]"
	# Fetch the Delta jars into the Ivy cache once (later runs reuse it).
	$(PY) -m jobs.runtime.warmup
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(TAOQI) generate --set lakehouse.root=$(ROOT) --set generator.users=$(USERS)
	$(TAOQI) run --set lakehouse.root=$(ROOT)

test: $(STAMP)
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(PY) -m bench.run

# The demo's invitations against the generator's hidden truth (after `make demo`).
bench-selector: $(STAMP)
	$(PY) -m bench.selector --root $(ROOT)

clean:
	rm -rf $(VENV) lakehouse reports spark-warehouse .pytest_cache
