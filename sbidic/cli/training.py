"""``sbidic train``, ``refit-flow``, ``recalibrate`` and ``train-npe``: estimators.

Training the spike-train -> DIC estimator on a dataset, refitting its flow on the frozen
encoder, recalibrating its posterior per firing class, and training the NPE baseline.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sbidic.cli.options import DATASET_MODEL_HELP, model_argument
from sbidic.files import check_input


def _jitter(values: list[float]) -> float | tuple[float, float]:
    if len(values) > 2:
        raise ValueError(f"--jitter-ms takes one value or a range LO HI, got {values}")
    return values[0] if len(values) == 1 else (values[0], values[1])


def run_train(args: argparse.Namespace) -> int:
    from sbidic.inference import train_from_dataset

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    if args.init_from is not None:
        check_input(args.init_from, "--init-from estimator", directory=True)

    train_from_dataset(
        args.data,
        args.output,
        seed=args.seed,
        max_epochs=args.epochs,
        max_time_s=args.max_time,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience,
        init_from=args.init_from,
        device=args.device,
        p_augment=args.p_augment,
        independent_steps=args.independent_augmentation or None,
        jitter_ms=None if args.jitter_ms is None else _jitter(args.jitter_ms),
        timing_features=args.timing_features,
        model=args.model,
    )
    print(f"estimator, checkpoint and model card written to {args.output}")
    return 0


def run_recalibrate(args: argparse.Namespace) -> int:
    from sbidic.inference.recalibrate import recalibrate_from_dataset

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    check_input(args.estimator, "--estimator", directory=True)
    report = recalibrate_from_dataset(args.data, args.estimator, args.output, split=args.split,
                                      alpha=args.alpha, n_samples=args.samples,
                                      seed=args.seed)  # fmt: skip
    print(f"mean SBC rank of the true DICs on {report['n_trains']} {args.split} trains "
          f"(clustered SE; shifted where p < {args.alpha}):")  # fmt: skip
    for r in report["rows"]:
        if r["mean_rank"] is None:
            print(f"  {r['class']:>8} {r['dic']}: {r['n']} trains, too few to test")
            continue
        after = f" -> {r['mean_rank_after']:.3f} (shift {r['shift']:+.4f})" if r["shift"] else ""
        print(f"  {r['class']:>8} {r['dic']}: {r['mean_rank']:.3f} +- {r['se']:.3f} "
              f"(p = {r['p_value']:.2g}){after}")  # fmt: skip
    print(f"written to {args.output}; check it on data it was not fitted on "
          "(benchmarks/bench_estimator.py --split test)")  # fmt: skip
    return 0


def run_refit_flow(args: argparse.Namespace) -> int:
    from sbidic.inference.refit import refit_from_dataset

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    check_input(args.estimator, "--estimator", directory=True)
    new_flow = {k: v for k, v in (("transforms", args.flow_transforms),
                                  ("hidden", args.flow_hidden), ("bins", args.flow_bins))
                if v is not None}  # fmt: skip
    refit_from_dataset(args.data, args.estimator, args.output, views=args.views,
                       epochs=args.epochs, learning_rate=args.lr, seed=args.seed,
                       new_flow=new_flow)  # fmt: skip
    step = json.loads((Path(args.output) / "model_card.json").read_text())["recipe"][-1]
    print(f"flow refitted on {step['n_fit']} trains x {step['views']} views: held-out NLL "
          f"{step['initial_holdout_nll']:.4f} -> {step['best_holdout_nll']:.4f} (epoch "
          f"{step['best_epoch']} of {step['epochs']}, {step['seconds']:.0f} s); written to "
          f"{args.output}")  # fmt: skip
    return 0


def run_train_npe(args: argparse.Namespace) -> int:
    from sbidic.inference.npe import train_npe

    check_input(Path(args.data) / "manifest.json", "dataset manifest")
    posterior = train_npe(
        args.data, args.output, args.conditioner, max_epochs=args.max_epochs,
        max_time_s=args.max_time, batch_size=args.batch_size, learning_rate=args.lr,
        patience=args.patience, seed=args.seed, model=args.model,
    )  # fmt: skip
    t, d = posterior.card["training"], posterior.card["data"]
    print(f"NPE ({args.conditioner}) on {d['cells_used']} of {d['simulations']} simulations "
          f"(silent fraction {d['silent_fraction']:.1%}): {t['epochs']} epochs, "
          f"{t['stop_reason']}, {t['cpu_time_s']:.0f} CPU s; written to "
          f"{args.output}")  # fmt: skip
    return 0


def add_train(sub: argparse._SubParsersAction) -> None:
    """``sbidic train``."""
    tr = sub.add_parser(
        "train",
        help="train the spike-train -> DIC estimator on a dataset (resumable)",
        description="Train the spike-train encoder and the conditional density over "
        "(g_s, g_u; dimensionless, multiples of g_leak) on a dataset from 'sbidic dataset' "
        "(train/validation splits by "
        "target). Rerun the same command to resume from OUTPUT/checkpoint.",
    )
    tr.add_argument("data", help="dataset directory")
    tr.add_argument("-o", "--output", required=True, help="estimator directory")
    tr.add_argument("--model", type=model_argument, help=DATASET_MODEL_HELP)
    tr.add_argument("--epochs", type=int, default=50, help="maximum epochs (default 50)")
    tr.add_argument("--max-time", type=float, help="stop after this many seconds")
    tr.add_argument("--batch-size", type=int, default=256)
    tr.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    tr.add_argument("--patience", type=int, default=10, help="early-stopping patience")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument(
        "--init-from", metavar="DIR",
        help="start from a saved estimator (transfer learning, e.g. sbidic/weights/stg)",
    )  # fmt: skip
    tr.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default cpu)")
    tr.add_argument(
        "--p-augment", type=float, metavar="P",
        help="fraction of training trains augmented (default 0.5; the published 1.0)",
    )  # fmt: skip
    tr.add_argument(
        "--independent-augmentation", action="store_true",
        help="draw the jitter and the deletion + crop independently (each with P)",
    )  # fmt: skip
    tr.add_argument(
        "--jitter-ms", type=float, nargs="+", metavar="MS",
        help="training jitter sd (ms), or a range LO HI drawn log-uniformly (default 2)",
    )  # fmt: skip
    tr.add_argument(
        "--timing-features", action="store_true",
        help="give the encoder whole-train ISI-variability summaries (added to --init-from)",
    )  # fmt: skip
    tr.set_defaults(handler=run_train)


def add_refit_flow(sub: argparse._SubParsersAction) -> None:
    """``sbidic refit-flow``."""
    rf = sub.add_parser(
        "refit-flow",
        help="refit a trained estimator's flow on its frozen encoder (calibration)",
        description="Fit only the flow of a trained estimator to its encoder's "
        "evaluation-mode embeddings of the dataset's train split (the clean trains and "
        "augmented copies), with early stopping on held-out training targets. Fixes the "
        "mismatch between the dropout-on embeddings of end-to-end training and those "
        "seen at inference. See docs/estimators.md.",
    )
    rf.add_argument("data", help="dataset directory (its train split is used)")
    rf.add_argument("--estimator", required=True, help="trained estimator directory")
    rf.add_argument("-o", "--output", required=True, help="refitted estimator directory")
    rf.add_argument(
        "--views",
        type=int,
        default=4,
        help="embeddings per train: clean + augmented copies (default 4)",
    )
    rf.add_argument("--epochs", type=int, default=6, help="epochs (default 6)")
    rf.add_argument("--lr", type=float, default=1e-4, help="learning rate (default 1e-4)")
    rf.add_argument("--seed", type=int, default=0)
    new = rf.add_argument_group(
        "new flow", "fit a freshly initialised flow of this architecture instead of refining "
        "the trained one (give a larger --lr, e.g. 1e-3, and more --epochs)",
    )  # fmt: skip
    new.add_argument("--flow-transforms", type=int, help="autoregressive spline transforms")
    new.add_argument("--flow-hidden", type=int, nargs="+", metavar="H",
                     help="hidden layer sizes of each transform's conditioner")  # fmt: skip
    new.add_argument("--flow-bins", type=int, help="spline bins")
    rf.set_defaults(handler=run_refit_flow)


def add_recalibrate(sub: argparse._SubParsersAction) -> None:
    """``sbidic recalibrate``."""
    rc = sub.add_parser(
        "recalibrate",
        help="fit a per-class shift of a trained estimator's posterior on held-out data",
        description="Rank the true DICs of a dataset split's trains among posterior "
        "samples (simulation-based calibration) and, per firing class and DIC, where the "
        "mean rank differs from 1/2 (z-test, standard error clustered by target), "
        "translate the flow's space to bring it to 1/2. Fit on the validation split, "
        "check on the test split. See docs/estimators.md.",
    )
    rc.add_argument("data", help="dataset directory")
    rc.add_argument("--estimator", required=True, help="trained estimator directory")
    rc.add_argument("-o", "--output", required=True,
                    help="recalibrated estimator directory (may be --estimator)")  # fmt: skip
    rc.add_argument("--split", default="validation", choices=("train", "validation", "test"),
                    help="held-out split to fit on (default validation)")  # fmt: skip
    rc.add_argument("--alpha", type=float, default=0.05,
                    help="shift only where the mean rank differs from 1/2 at this level "
                    "(default 0.05)")  # fmt: skip
    rc.add_argument("--samples", type=int, default=200,
                    help="posterior samples per train (default 200)")  # fmt: skip
    rc.add_argument("--seed", type=int, default=0)
    rc.set_defaults(handler=run_recalibrate)


def add_train_npe(sub: argparse._SubParsersAction) -> None:
    """``sbidic train-npe``."""
    tn = sub.add_parser(
        "train-npe",
        help="train the NPE baseline (all conductances) on a Monte Carlo dataset",
        description="Neural posterior estimation over log-conductances (sbi NPE, zuko "
        "NSF) on a dataset from 'sbidic dataset --mode mc', conditioned on the spike-train "
        "encoder or on summary features. Writes weights.safetensors, config.json and a "
        "model card (recipe, budget, silent fraction, CPU time). See docs/npe.md.",
    )
    tn.add_argument("data", help="Monte Carlo dataset directory")
    tn.add_argument("--conditioner", choices=["embedding", "features"], required=True)
    tn.add_argument("-o", "--output", required=True, help="NPE posterior directory")
    tn.add_argument("--model", type=model_argument, help=DATASET_MODEL_HELP)
    tn.add_argument("--max-epochs", type=int, default=200, help="maximum epochs (default 200)")
    tn.add_argument("--max-time", type=float, help="stop after this many seconds")
    tn.add_argument("--batch-size", type=int, default=256)
    tn.add_argument("--lr", type=float, default=5e-4, help="learning rate (default 5e-4)")
    tn.add_argument("--patience", type=int, default=20, help="early-stopping patience")
    tn.add_argument("--seed", type=int, default=0)
    tn.set_defaults(handler=run_train_npe)
