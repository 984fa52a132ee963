# sbidic developer commands. `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sbidic-installed
export OMP_NUM_THREADS := 1

.PHONY: install test test-slow demo lint bench clean

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

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)  ## quick benchmarks: sampler, simulator, estimator, fidelity, inference at scale
	$(PY) benchmarks/bench_population.py
	$(PY) benchmarks/bench_simulate.py
	$(PY) benchmarks/bench_estimator.py --data data/stg_dic_v1 --estimator sbidic/weights/stg \
		--max-recordings 500 --sbc-samples 200 --throughput-repeats 2
	$(PY) benchmarks/bench_fidelity.py --quick --sets stg-test --strategies posterior calibrated true verify
	$(PY) benchmarks/bench_infer_scale.py --sizes 200 1000

clean:
	rm -rf demo-output .pytest_cache
