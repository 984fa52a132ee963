"""Extracellular detection on the crab stomatogastric nerve recordings of ../shared/real.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/real_extracellular.py
[--real ../shared/real] [--plot docs/extracellular-detection.png]``

For each recording (README of ``../shared/real``: channel, reference detection), reads
the ABF file with ``sbidic.read_spikes(path, mode="extracellular", **options)``, the
options ``docs/formats.md`` gives for it, and compares with the reference spike-time
CSV beside it: counts, reference spikes matched by a detected spike within 1 ms and at
the same sample (0.05 ms), and detected spikes matched by none. The intracellular rule
(the reader's default) is shown for contrast. ``--plot`` draws a 1.2 s excerpt of each
trace with the threshold, the detected events by amplitude class and the reference
spikes (the figure of ``docs/formats.md``). The recordings are not part of sbidic: the
script reads them where they lie.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from sbidic.spikes import detect_extracellular, read_spikes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: file, reference CSV, what it is, read options, excerpt start (ms) for the figure
CASES = [
    ("B_baseline.abf", "STG_B_pdn_PD.csv", "B: pdn, the two PD neurons", {"channel": 1},
     4100.0),
    ("D_baseline_nopdn.abf", "STG_D_lvn_LP.csv", "D: lvn, LP (largest unit) among PD, PY",
     {"channel": 0, "threshold": 10, "units": 3, "unit": 1, "overlap_ms": 15}, 8300.0),
    ("A_baseline_nopdn.abf", "STG_A_tonic_unit.csv", "A: one tonic unit", {"channel": 0,
     "unit": 1}, 1000.0),
]  # fmt: skip


def matched(reference: np.ndarray, found: np.ndarray, tol_ms: float) -> int:
    """How many of ``reference`` have a spike of ``found`` within ``tol_ms``."""
    if not found.size:
        return 0
    i = np.clip(np.searchsorted(found, reference), 1, max(found.size - 1, 1))
    gap = np.minimum(np.abs(found[i] - reference), np.abs(found[i - 1] - reference))
    return int((gap <= tol_ms).sum())


def _options(options: dict) -> str:
    return " ".join(f"--read-option {k}={v}" for k, v in {"mode": "extracellular",
                                                           **options}.items())  # fmt: skip


def compare(real: Path) -> None:
    print(f"{'file':<22}{'reference':>10}{'detected':>10}{'<=1 ms':>8}{'same':>6}{'extra':>7}"
          f"{'intracellular':>15}  options")  # fmt: skip
    for abf, csv, _, options, _ in CASES:
        reference = read_spikes(real / csv)[0]
        found = read_spikes(real / abf, mode="extracellular", **options)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            intra = read_spikes(real / abf)
        channel = int(options["channel"])
        within, same = matched(reference, found, 1.0), matched(reference, found, 0.05)
        extra = found.size - matched(found, reference, 1.0)
        print(f"{abf:<22}{reference.size:>10}{found.size:>10}{within:>8}{same:>6}{extra:>7}"
              f"{intra.n_spikes[channel]:>15}  {_options(options)}")  # fmt: skip


def _trace(path: Path, channel: int) -> tuple[np.ndarray, np.ndarray, str]:
    import neo

    signal = neo.io.AxonIO(str(path)).read_block(lazy=False).segments[0].analogsignals[0]
    x = np.asarray(signal.magnitude[:, channel], dtype=np.float64)
    t = np.asarray(signal.times.rescale("ms").magnitude, dtype=np.float64)
    return x, t, signal.units.dimensionality.string


def plot(real: Path, out: Path, window_ms: float = 1200.0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(CASES), 1, figsize=(8.0, 6.6))
    colours = ["tab:red", "tab:blue", "tab:green", "tab:purple"]
    for ax, (abf, csv, title, options, start) in zip(axes, CASES, strict=True):
        x, t, unit = _trace(real / abf, int(options["channel"]))
        settings = {k: v for k, v in options.items() if k != "channel"}
        kept = detect_extracellular(x, t, **settings)
        every = detect_extracellular(x, t, **{**settings, "units": kept.units, "unit": None,
                                              "overlap_ms": 0})  # fmt: skip
        reference = read_spikes(real / csv)[0]
        sel = (t >= start) & (t < start + window_ms)
        ax.plot(t[sel] - start, x[sel], color="0.55", lw=0.4)
        sign = 1.0 if kept.polarity == "positive" else -1.0
        ax.axhline(kept.median + sign * kept.level, color="k", ls="--", lw=0.7)
        k = np.round((every.times - t[0]) / (t[1] - t[0])).astype(int)
        shown = (every.times >= start) & (every.times < start + window_ms)
        for rank in range(1, every.units + 1):
            pick = shown & (every.classes == rank)
            label = "detected" if every.units == 1 else f"class {rank}"
            ax.plot(every.times[pick] - start, x[k[pick]], "o", ms=3.5 if rank == 1 else 2.5,
                    mfc="none", color=colours[rank - 1], label=label)  # fmt: skip
        dropped = np.setdiff1d(every.times[every.classes == 1], kept.times)
        dropped = dropped[(dropped >= start) & (dropped < start + window_ms)]
        if dropped.size:
            ax.plot(dropped - start, np.full(dropped.size, x[sel].max() * 1.05), "x",
                    color="tab:red", ms=5, label="class 1, dropped (overlap)")  # fmt: skip
        ref = reference[(reference >= start) & (reference < start + window_ms)]
        top = x[sel].max() * 1.18 if x[sel].max() > 0 else x[sel].min() * 0.8
        ax.plot(ref - start, np.full(ref.size, top), "|", color="k", ms=6,
                label="reference")  # fmt: skip
        ax.set_title(f"{title} -- {_options(options).replace('--read-option ', '')}",
                     fontsize=8, loc="left")  # fmt: skip
        ax.set_ylabel(unit, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="lower right", ncol=5, frameon=False)
    axes[-1].set_xlabel("ms from the excerpt's start", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    print(f"figure written to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real",
                        help="folder of the recordings (default ../shared/real)")  # fmt: skip
    parser.add_argument("--plot", type=Path, help="write the figure (PNG) there")
    args = parser.parse_args()
    if not args.real.is_dir():
        raise SystemExit(f"{args.real}: not present (the recordings are not part of sbidic)")
    compare(args.real)
    if args.plot:
        plot(args.real, args.plot)


if __name__ == "__main__":
    main()
