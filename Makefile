# The two commands of the README, plus the benchmark. Everything installs into .venv.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
TAOQI := $(VENV)/bin/taoqi
STAMP := $(VENV)/.installed
# The demo world (docs/generator.md); override e.g. `make demo USERS=20000`.
USERS ?= 100000
ROOT ?= ./lakehouse

.PHONY: demo test test-unit cluster-test bench bench-fixed-cost bench-skew bench-selector bench-personas bench-personas-robustness screenshot docs install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[local,s3,test,bench,docs]"
	# Fetch the Delta jars into the Ivy cache once (later runs reuse it).
	$(PY) -m jobs.runtime.warmup
	touch $(STAMP)

install: $(STAMP)

# Ends with its wall time (after the install) and, last, the report's path.
demo: $(STAMP)
	@start=$$(date +%s); \
	$(TAOQI) generate --set lakehouse.root=$(ROOT) --set generator.users=$(USERS) && \
	$(TAOQI) run --set lakehouse.root=$(ROOT) || exit $$?; \
	took=$$(( $$(date +%s) - start )); \
	echo "make demo: generate + run took $$((took / 60)) min $$((took % 60)) s"; \
	echo "report: $$(ls -t $(ROOT)/reports/*/index.html | head -n 1)"

# Two pytest-xdist workers, each its own Spark session: the tiny world's tests on one, the default world's on the
# other, every other module whole on whichever is free (tests/conftest.py), in the order collected (the two
# worlds first). Plain `pytest` runs the same tests in one process.
test: $(STAMP)
	$(VENV)/bin/pytest -n 2 --dist loadscope --no-loadscope-reorder

# The fast loop while changing code (about three minutes): tests/unit alone, pure transforms on hand-built rows in
# one Spark session, ruff included; tests/integration, e2e and cluster are `make test`'s.
test-unit: $(STAMP)
	$(VENV)/bin/pytest tests/unit

# spark-submit of the tiny world's monthly run to a real standalone cluster on 127.0.0.1 (one master,
# two one-core workers, started and stopped by the test), a worker lost mid-stage; part of `make test`.
cluster-test: $(STAMP)
	$(VENV)/bin/pytest tests/cluster

# The pipeline at 100 000 and 1 000 000 members (per stage: time, Spark jobs, Delta commits, shuffle, driver
# heap, files; DuckDB's reference of the same gold), the quality gates at the demo size, the driver heap of
# each world in a fresh process, what the width of gold.user_features costs (on the smaller world), then
# the 500 M-member projection of docs/sizing.md. The 1 000 000-member world takes most of its time.
BENCH_WORLDS = bench/results/tmp/u100000 bench/results/tmp/u1000000
bench: $(STAMP)
	$(PY) -m bench.run
	$(PY) -m bench.heap $(BENCH_WORLDS)
	$(PY) -m bench.rollup_width $(firstword $(BENCH_WORLDS))
	$(PY) -m bench.sizing

# A monthly run of 22 rows (docs/landing.md's walkthrough), every gate on, three times in one process: what each
# run pays whatever its data (wall, Python and JVM CPU, the JIT's share, Py4J calls). About seven minutes.
bench-fixed-cost: $(STAMP)
	$(PY) -m bench.fixed_cost

# A world with a few users and sellers of 1,000x the median events: task-time spread per stage.
bench-skew: $(STAMP)
	$(PY) -m bench.skew

# The demo's invitations against the generator's hidden truth (after `make demo`).
bench-selector: $(STAMP)
	$(PY) -m bench.selector --root $(ROOT)

# The demo's personas against the generator's hidden truth: purity and adjusted Rand index.
bench-personas: $(STAMP)
	$(PY) -m bench.personas --root $(ROOT)

# The same on three worlds the naming rules never saw (another seed, persona behaviour moved 25 %,
# other persona shares): 50 000 members each, about 20 minutes on 2 cores.
bench-personas-robustness: $(STAMP)
	$(PY) -m bench.personas_robustness

# The latest report of the demo rendered by headless Chromium (Debian package `chromium`) to a PNG
# beside it, for a reviewer who will not open the HTML. `make screenshot REPORT=path/index.html`.
REPORT ?= $(lastword $(sort $(wildcard $(ROOT)/reports/*/index.html)))
screenshot:
	@test -n "$(REPORT)" || { echo "no report under $(ROOT)/reports: run make demo first" >&2; exit 2; }
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "make screenshot needs Chromium: apt-get install chromium (as root)" >&2; exit 2; }
	chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,9000 \
		--screenshot=$(abspath $(dir $(REPORT)))/report.png file://$(abspath $(REPORT))
	@echo "screenshot: $(abspath $(dir $(REPORT)))/report.png"

# The documentation site (mkdocs.yml, docs/) into site/; --strict: a dead link or anchor fails the build.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) lakehouse reports spark-warehouse .pytest_cache
