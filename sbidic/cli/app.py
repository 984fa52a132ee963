"""``sbidic app``: serve the web application."""

from __future__ import annotations

import argparse
import sys

from sbidic.cli.options import model_argument
from sbidic.files import check_input


def run_app(args: argparse.Namespace) -> int:
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {args.host}: anyone who can reach this machine can use "
              "the app and read what is uploaded", file=sys.stderr)  # fmt: skip
    from sbidic.app import serve
    from sbidic.app.guard import normalize_host

    for name in args.allow_host:
        normalize_host(name)  # ValueError: "not a host name: ..."
    if args.max_jobs < 1:
        raise ValueError(f"sbidic app: --max-jobs must be >= 1, not {args.max_jobs}")
    if (args.model is None) != (args.estimator is None):
        raise ValueError("sbidic app: --model and --estimator go together (a model of your "
                         "own needs its trained estimator)")  # fmt: skip
    if args.model is not None:
        from sbidic.app.state import add_model

        check_input(args.estimator, "estimator", directory=True)
        add_model(args.model, args.estimator)
    if args.model_dir is not None:
        check_input(args.model_dir, "model folder", directory=True)
    try:
        serve(args.host, args.port, open_browser=not args.no_browser,
              upload_limit_mb=args.max_upload_mb, allowed_hosts=tuple(args.allow_host),
              max_jobs=args.max_jobs, model_dir=args.model_dir)  # fmt: skip
    except ImportError as err:
        raise ValueError(f"the app needs its extra: pip install 'sbidic[app]' ({err})") from None
    return 0


def add_app(sub: argparse._SubParsersAction) -> None:
    """``sbidic app``."""
    app = sub.add_parser(
        "app", help="the web application: load recordings, infer, simulate, download",
        description="Serve the sbidic web app on this machine and open it in the browser.",
    )  # fmt: skip
    app.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    app.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only)",
    )
    app.add_argument("--no-browser", action="store_true", help="do not open a browser")
    app.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests for this host name or address (repeatable; default: "
        "only 127.0.0.1, localhost, [::1] and the --host address)",
    )
    app.add_argument(
        "--max-jobs",
        type=int,
        default=2,
        help="inference and simulation jobs computing at once, over all pages (default 2)",
    )
    app.add_argument(
        "--max-upload-mb",
        type=float,
        default=50.0,
        help="largest accepted upload, MB (default 50)",
    )
    app.add_argument(
        "--model",
        type=model_argument,
        help="also offer your own model, path/to/model.py:NAME (with --estimator)",
    )
    app.add_argument("--estimator", help="its trained estimator directory (sbidic train)")
    app.add_argument(
        "--model-dir", metavar="DIR",
        help="a folder of your model files (FILE.py with FILE_estimator/ beside it): the "
        "page may add them (model files are code: only this folder, never an upload)",
    )  # fmt: skip
    app.set_defaults(handler=run_app)
