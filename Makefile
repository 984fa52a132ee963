# sbidic developer commands. `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sbidic-installed
export OMP_NUM_THREADS := 1

.PHONY: install test test-slow demo app app-screenshots lint bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install sbidic with pinned dependencies

test: $(STAMP)  ## run the default test suite (doctests included, slow tests excluded)
	$(PY) -m pytest -q

test-slow: $(STAMP)  ## run only the long checks
	$(PY) -m pytest -q -m slow

demo: $(STAMP)  ## infer verified STG populations from the bundled example spike trains
	mkdir -p demo-output
	$(VENV)/bin/sbidic infer sbidic/examples/stg_recordings.csv --model stg -n 20 --seed 0 \
		--verify --jobs 2 -o demo-output/populations.nc

app: $(STAMP)  ## the web app: serves on 127.0.0.1 and opens the browser
	$(VENV)/bin/sbidic app

app-screenshots: $(STAMP)  ## regenerate docs/app-*.png with the browser tests (needs Chromium)
	SBIDIC_APP_SCREENSHOTS=docs $(PY) -m pytest -q -m browser tests/test_app_browser.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)  ## quick benchmarks: population sampler, fidelity of inferred populations
	$(PY) benchmarks/bench_population.py
	$(PY) benchmarks/bench_fidelity.py --quick --sets stg-test --strategies posterior calibrated true verify

clean:
	rm -rf demo-output .pytest_cache
