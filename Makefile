# The README's two commands, `make synth` and `make test`; each sets up what it needs first.
.PHONY: synth test

synth:
	scripts/setup.sh
	scripts/with-env .venv/bin/python main.py

# Test modules run on every core, each module whole on one worker (its fixtures start once).
PYTEST_PARALLEL := -n auto --dist loadscope

test:
	scripts/setup.sh --with-test-services
	scripts/with-env .venv/bin/python -m pytest $(PYTEST_PARALLEL)

# Synthesis speed and memory (bench/bench.py), written to bench/results.md.
.PHONY: bench
bench:
	scripts/setup.sh
	scripts/with-env .venv/bin/python bench/bench.py

# Lint and type-check: ruff (rules in pyproject.toml) and mypy --strict on the library.
.PHONY: lint
lint:
	scripts/setup.sh
	.venv/bin/ruff check .
	.venv/bin/mypy --strict constructs_lib
