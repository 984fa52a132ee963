"""How diverse are the NPE baseline's cells that pass? (the limit of DIC-compensated proposals)

Draws 20 cells per recording from the shipped STG NPE-features network for the first 40
test recordings of ``data/stg_dic_v1`` (as ``bench_vs_npe.py``), simulates and scores
them, and prints the diversity (``sbidic.fidelity.population_diversity``) of the cells
that pass, against that of all the cells::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_npe_verified.py
"""

import os

os.environ["OMP_NUM_THREADS"] = "1"

import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fidelity import _test_recordings  # noqa: E402

import sbidic  # noqa: E402
from sbidic.fidelity import population_diversity  # noqa: E402
from sbidic.models import get_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    recs, _, _ = _test_recordings(ROOT / "data/stg_dic_v1", 40, 0)
    npe = sbidic.load_pretrained("stg", estimator="npe", conditioner="features")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sbidic.infer(recs, npe, n=20, seed=0, score=True,
                           simulation={"n_jobs": 2, "seed": 0})  # fmt: skip
    pop, fid = res.population, res.population.fidelity
    ranges = get_model("stg").conductance_ranges
    passing = [population_diversity(g[ok][None], ranges)
               for g, ok in zip(pop.conductances, fid.passed, strict=True) if ok.sum() >= 3]
    every = population_diversity(pop.conductances, ranges)
    print("| NPE-features cells | cells | CV of g | ranges covered |")
    print("|---|---|---|---|")
    print(f"| all | {fid.passed.size} | {np.nanmean(every['conductance_cv']):.3f} | "
          f"{np.nanmean(every['range_coverage']):.1%} |")
    print(f"| passing ({fid.passed.mean():.1%}; {len(passing)} recordings with >= 3) | "
          f"{int(fid.passed.sum())} | "
          f"{np.mean([float(d['conductance_cv'][0]) for d in passing]):.3f} | "
          f"{np.mean([float(d['range_coverage'][0]) for d in passing]):.1%} |")


if __name__ == "__main__":
    main()
