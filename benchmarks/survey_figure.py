"""One figure of several models' firing spaces (``sbidic survey`` outputs or any
dataset's :func:`sbidic.datasets.survey.dataset_firing_space` saved as JSON)::

    python benchmarks/survey_figure.py survey/stg-liu/firing_space.json \\
        stg_mc_v1.json da_mc_v1.json -o docs/survey-firing-spaces.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sbidic.fidelity.firing_space import FiringSpace  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("spaces", nargs="+", type=Path, help="firing_space.json files")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args()
    spaces = [FiringSpace.load(p) for p in args.spaces]
    fig, axes = plt.subplots(len(spaces), 2, figsize=(10, 3.4 * len(spaces)),
                             width_ratios=(1, 1.3), squeeze=False)  # fmt: skip
    for space, row in zip(spaces, axes, strict=True):
        space.plot(row)
    fig.tight_layout()
    fig.savefig(args.output, dpi=90)
    for space in spaces:
        print(space.summary())


if __name__ == "__main__":
    main()
