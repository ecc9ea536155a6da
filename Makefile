# segstream — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install demo test unit lint mutation up down topics bench quality clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

## make demo: Kafka + Redis + a worker + the simulator, dashboard on :6066; Ctrl-C stops all it started
demo: install
	bash infra/demo.sh

## make test: install, start Kafka + Redis (if not running), lint, run the whole suite, stop what it started
test: install
	bash infra/test.sh

## make unit: the pure unit tests only (no servers)
unit: install
	$(PY) -m pytest -q tests/unit src/segstream

## make mutation: mutmut on the pure core and the models against the unit tests (one worker, niced; about 40
## min on 2 shared cores), then killed/survived per file ([tool.mutmut] in pyproject.toml; docs/DEVELOPMENT.md)
mutation: install
	$(PY) -m pip install -q -e '.[test,mutation]'
	rm -rf mutants
	nice -n 10 $(PY) infra/mutmut_run.py run --max-children 1 > mutants.log 2>&1 || (tail -40 mutants.log; exit 1)
	$(PY) infra/mutation_summary.py --survivors

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

up: install
	infra/kafka.sh up
	infra/redis.sh up
	$(VENV)/bin/segstream topics create

down:
	infra/kafka.sh down
	infra/redis.sh down

## make bench: throughput (+ naive agent, two workers), latency, memory at 1M, batch baseline, each with its same-run
## baseline, results appended to benchmarks/results/*.jsonl; ~15 min (servers must be up: make up)
bench: install
	$(PY) benchmarks/run_all.py

## make quality: segmentation quality through the real pipeline (docs/QUALITY.md)
quality: install
	$(PY) benchmarks/quality.py rfm
	$(PY) benchmarks/quality.py clusters --customers 3000 --events 370000

clean: down
	rm -rf .cache/kafka-data .cache/redis-data-* .pytest_cache .mypy_cache .ruff_cache
