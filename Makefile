# Two commands for a newcomer: `make demo` and `make test`. Both set up the virtualenv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_WORKERS ?= 2
## one pytest worker per core for the suite; then the broker tests alone, one at a time (they stop and start the
## servers and time the relay: sharing the two cores with other tests made them flaky)

.PHONY: demo test lint bench bench-web bench-cli setup clean-demo asyncapi openapi test-at-hours sqldocs serve contract screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## make demo: the seed schemes (docs/rules.md#seed-scenarios), played month by month into demo/jamsos.db (SQLite)
demo: $(STAMP)
	rm -rf demo && mkdir -p demo
	cd demo && ../$(BIN)/jamsos demo --store jamsos.db
	@echo
	@echo "Explore it:  $(BIN)/jamsos agreement show SKW-RENTAN-2025 --on 2026-01-31 --store demo/jamsos.db"

## make test: lint, type-check the write model, then the whole suite (PostgreSQL must be running)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy ledger commands eventstore projections services api cli bench
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadgroup -m "not broker"
	$(BIN)/pytest -q -m broker

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy ledger commands eventstore projections services api cli bench

## make bench: every benchmark once per store (bench/all.py: bulk ingest, rebuild, CLI start-up, reconciliation,
## HTTP), every ratio against its target in one table, results in bench/results/, then the README's table from them
## (bench/table.py). About half an hour; BENCH_ARGS=--quick for a look in minutes. On demand, not in CI.
bench: $(STAMP)
	$(BIN)/python -m bench.all $(BENCH_ARGS)
	$(BIN)/python -m bench.table

## make bench-web: every dashboard page on a copy of the demo store (demo/jamsos.db when `make demo` made it, else a
## fresh demo, ~70 s): first read and reads again, server time, against 300 ms (bench/web.py; on demand, not in CI)
bench-web: $(STAMP)
	$(BIN)/python -m bench.web

## make bench-cli: whole `jamsos` commands (--help, reports on a copy of the demo store) beside `python -c pass`,
## against 150 ms for the help and 400 ms for a report (bench/cli.py; results in bench/results/)
bench-cli: $(STAMP)
	$(BIN)/python -m bench.cli

clean-demo:
	rm -rf demo

## make asyncapi: regenerate docs/asyncapi.yaml from the code (tests/test_asyncapi.py fails when it is stale)
asyncapi: $(STAMP)
	env -u JAMSOS_BROKER_NAMESPACE $(BIN)/faststream docs gen services.asyncapi:app --yaml --out docs/asyncapi.yaml

## make openapi: regenerate docs/openapi.json from the routes (tests/test_openapi.py fails when it is stale)
openapi: $(STAMP)
	$(BIN)/python -m api.openapi

## make contract: schemathesis over every operation of the OpenAPI document against a real server on a seeded SQLite
## and PostgreSQL store (also part of `make test`); JAMSOS_CONTRACT_SEED / JAMSOS_CONTRACT_EXAMPLES to explore further
contract: $(STAMP)
	$(BIN)/pytest -q tests/test_api_contract.py

## make serve: the HTTP API on http://127.0.0.1:8000 over the demo store (run `make demo` first)
serve: $(STAMP)
	$(BIN)/jamsos serve --store demo/jamsos.db

## make screenshots: the README's pictures of the dashboard (docs/screenshots/*.png) from the full demo (`make demo`
## first) in Debian's chromium
screenshots: $(STAMP)
	$(BIN)/python -m tests.readme_screenshots --demo demo --out docs/screenshots

## make sqldocs: regenerate the view reference in docs/sql.md from projections/sql_views.py (a test fails when stale)
sqldocs: $(STAMP)
	$(BIN)/python -m projections.sql_views

## make test-at-hours: the command and report suites with the ledger's clock frozen at the hours where the date in
## UTC, WIB, WITA and WIT differ (tests/test_business_time.py runs the same hours in every `make test`)
test-at-hours: $(STAMP)
	for at in 15:00 16:00 16:59 17:00 23:59 00:00; do \
	  JAMSOS_TEST_AT=$$at $(BIN)/pytest -q -x tests/test_cli.py tests/test_cli_money.py tests/test_reports.py \
	    tests/test_business_time.py tests/test_on_semantics.py || exit 1; done
