# sbidic developer commands. `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sbidic-installed
SPHINX := $(PY) -m sphinx -W --keep-going -n -j 1
export OMP_NUM_THREADS := 1

.PHONY: install lock test test-slow demo app app-screenshots lint bench docs linkcheck tutorials clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)  ## create .venv: every package from requirements.lock (hash-checked), sbidic editable

lock:  ## regenerate requirements.lock and constraints.txt (keeps versions; UPGRADE=1 resolves afresh)
	$(PYTHON) .ci/lock.py $(if $(UPGRADE),--upgrade)

# one worker per core (pytest-xdist), each test file on one worker (module fixtures
# such as the app's server and browser page are built once per file)
PYTEST := $(PY) -m pytest -q -n auto --dist loadfile

test: $(STAMP)  ## run the default test suite (doctests included, slow tests excluded)
	$(PYTEST)

test-slow: $(STAMP)  ## run only the long checks
	$(PYTEST) -m slow

demo: $(STAMP)  ## infer verified STG populations from the bundled example spike trains
	mkdir -p demo-output
	@start=$$(date +%s); $(VENV)/bin/sbidic infer sbidic/examples/stg_recordings.csv --model stg \
		-n 20 --seed 0 --verify --jobs 2 -o demo-output/populations.nc && \
		echo "make demo: done in $$(( $$(date +%s) - start )) s"

app: $(STAMP)  ## the web app: serves on 127.0.0.1 and opens the browser
	$(VENV)/bin/sbidic app

app-screenshots: $(STAMP)  ## regenerate docs/app-*.png with the browser tests (needs Chromium)
	SBIDIC_APP_SCREENSHOTS=docs $(PY) -m pytest -q -m browser tests/test_app_browser.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)  ## quick benchmarks: sampler, simulator, estimator, fidelity, inference at scale
	$(PY) benchmarks/bench_population.py
	$(PY) benchmarks/bench_simulate.py
	$(PY) benchmarks/bench_simulate.py --users stg:20 da:4
	$(PY) benchmarks/bench_transient.py --cells 20 --transients 1000
	$(PY) benchmarks/bench_estimator.py --data data/stg_dic_v1 --estimator sbidic/weights/stg \
		--split validation+test --cells-per-target 1 --sbc-samples 200 --throughput-repeats 2
	$(PY) benchmarks/bench_fidelity.py --quick --sets stg-test --strategies posterior calibrated true verify
	$(PY) benchmarks/bench_infer_scale.py --sizes 200 1000

docs: $(STAMP)  ## build the site to docs/_build/html (executes the tutorials, cached)
	$(SPHINX) -b html docs docs/_build/html

linkcheck: $(STAMP)  ## check every internal link and anchor of the site (offline; reuses the notebook cache of `make docs`)
	$(SPHINX) -b linkcheck docs docs/_build/linkcheck

tutorials: $(STAMP)  ## run every tutorial at full size, as scripts (figures in tutorials/figures)
	cd tutorials && for t in [0-9]*.py; do echo "== $$t"; MPLBACKEND=Agg ../$(PY) $$t || exit 1; done

clean:
	rm -rf demo-output .pytest_cache docs/_build docs/_generated docs/generated docs/api.md \
		docs/tutorials/*.py docs/tutorials/figures tutorials/figures
