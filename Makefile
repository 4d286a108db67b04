# Siar — the two commands a newcomer needs are `make run` and `make test`.
export UV_PYTHON_DOWNLOADS := never
UV ?= uv
PYTEST_ARGS ?=

.PHONY: install run migrate test test-unit test-e2e lint fmt clean bench bench-metrics faults fuzz

install: ## Install every package of the workspace from the lock file
	$(UV) sync --frozen

run: install ## Apply the migrations, start sandbox, scheduler, publisher, metrics and feedback as local processes, with the demo accounts and survey
	$(UV) run --frozen python -m siar_devstack

migrate: install ## Apply every service's SQL migrations (SIAR_DATABASE_URL)
	$(UV) run --frozen python -m siar_runtime.migrate

test: install ## The whole suite: unit, integration (real RabbitMQ + PostgreSQL) and end-to-end
	$(UV) run --frozen pytest $(PYTEST_ARGS)

test-unit: install ## Only the tests that start no service process
	$(UV) run --frozen pytest -m "not e2e" $(PYTEST_ARGS)

test-e2e: install ## Only the end-to-end tests (every service as its own process)
	$(UV) run --frozen pytest -m e2e $(PYTEST_ARGS)

bench: ## Benchmarks against the local stack, Celery beside it (slow; prints a table, not a test)
	$(UV) sync --frozen --group bench
	$(UV) run --frozen --group bench python -m bench

bench-metrics: install ## Samples a second the metrics service stores, beside a plain COPY of the same rows
	$(UV) run --frozen python -m bench.metrics_ingest

faults: install ## The full fault matrix: every fault, 3 runs, 5,000 posts (restarts PostgreSQL and RabbitMQ)
	$(UV) run --frozen python -m bench.faults

fuzz: install ## Schemathesis against every OpenAPI document, 300 examples per operation (make test runs 10)
	SIAR_FUZZ_EXAMPLES=$${SIAR_FUZZ_EXAMPLES:-300} $(UV) run --frozen pytest tests/badinput --timeout 1800 $(PYTEST_ARGS)

lint: install
	$(UV) run --frozen ruff check .

fmt: install
	$(UV) run --frozen ruff check --fix .

clean:
	rm -rf .run .pytest_cache .ruff_cache
