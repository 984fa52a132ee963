"""``sbidic app``: a local web application over the public API.

Load spike trains, infer degenerate populations, explore them, simulate chosen cells
and download everything, in the browser. Built with Shiny for Python
(``pip install sbidic[app]``; the choice is measured in ``docs/app-framework.md``).
The modules: :mod:`~sbidic.app.state` (loading inputs, running jobs),
:mod:`~sbidic.app.figures`, :mod:`~sbidic.app.tables`, :mod:`~sbidic.app.downloads`
(the bytes the CLI writes), :mod:`~sbidic.app.views` (the page) and
:mod:`~sbidic.app.server` (the wiring), behind :mod:`~sbidic.app.guard` (Host and
Origin checks, the upload limit on the bytes received).
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]

#: Default largest upload, MB.
UPLOAD_LIMIT_MB = 50.0
#: Default number of inference or simulation jobs computing at once, over all pages.
MAX_JOBS = 2
#: Bind addresses that accept connections from other machines.
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def create_app(upload_limit_mb: float = UPLOAD_LIMIT_MB, *, allowed_hosts=(),
               max_jobs: int = MAX_JOBS, model_dir=None):  # fmt: skip
    """The Shiny application behind its guard (an ASGI app).

    Parameters
    ----------
    upload_limit_mb : float
        Largest accepted upload, MB, counted on the bytes received.
    allowed_hosts : iterable of str
        Host names accepted in ``Host`` headers besides 127.0.0.1, localhost and
        [::1] (:class:`~sbidic.app.guard.Guard`).
    max_jobs : int
        Inference and simulation jobs computing at once, across all pages.
    model_dir : str or Path, optional
        A folder of the user's model files (``sbidic app --model-dir``): the page may
        add its models; no other model file is ever run.
    """
    import shutil
    import tempfile
    from functools import partial
    from pathlib import Path

    from shiny import App

    from sbidic._leftovers import RANDOM_PATTERN, TAG_PATTERN, remove_leftovers, writer_tag
    from sbidic.app.guard import Guard
    from sbidic.app.server import make_server
    from sbidic.app.views import page

    # folders of killed servers go first; this one is removed when the server stops
    remove_leftovers(tempfile.gettempdir(), rf"sbidic-app-{TAG_PATTERN}\.{RANDOM_PATTERN}")
    workdir = Path(tempfile.mkdtemp(prefix=f"sbidic-app-{writer_tag()}."))
    folder = None if model_dir is None else str(Path(model_dir).resolve())
    server = make_server(upload_limit_mb, max_jobs, workdir=workdir, model_dir=folder)
    app = App(page(upload_limit_mb, folder), server)
    app.on_shutdown(partial(shutil.rmtree, workdir, ignore_errors=True))  # ASGI lifespan
    return Guard(app, allowed_hosts, upload_limit_bytes=int(upload_limit_mb * 1e6))


def serve(host: str = "127.0.0.1", port: int = 0, *, open_browser: bool = True,
          upload_limit_mb: float = UPLOAD_LIMIT_MB, allowed_hosts=(),
          max_jobs: int = MAX_JOBS, model_dir=None) -> None:  # fmt: skip
    """Serve the app until interrupted; prints its URL (port 0: a free port).

    The address bound (``host``, unless a wildcard such as 0.0.0.0) is accepted in
    ``Host`` headers besides the loopback names and ``allowed_hosts``.

    Raises
    ------
    ValueError
        ``port`` is not 0 to 65535.
    OSError
        The address cannot be bound (the port is in use, the host is not this
        machine's): raised before anything is printed.
    """
    import threading
    import webbrowser

    import uvicorn

    sock = _listen(host, port)  # the port is checked (and held) before the URL is shown
    port = sock.getsockname()[1]
    hosts = list(allowed_hosts)
    if host not in WILDCARD_HOSTS:
        hosts.append(host)
    # imports first: the URL printed is ready to serve
    app = create_app(upload_limit_mb, allowed_hosts=hosts, max_jobs=max_jobs,
                     model_dir=model_dir)  # fmt: skip
    shown = "127.0.0.1" if host in WILDCARD_HOSTS else host
    if ":" in shown:
        shown = f"[{shown}]"
    url = f"http://{shown}:{port}/"
    print(f"sbidic app: serving on {url} (Ctrl+C to stop)", flush=True)
    if host in WILDCARD_HOSTS and not allowed_hosts:
        print("sbidic app: other machines must be named with --allow-host NAME (the name "
              "or address they use in the URL)", flush=True)  # fmt: skip
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    with sock:
        server.run(sockets=[sock])


def _listen(host: str, port: int):
    """A socket listening on ``host``:``port`` (port 0: a free one), for uvicorn.

    Raises
    ------
    ValueError
        ``port`` is out of range.
    OSError
        The address cannot be bound, with the address and the reason.
    """
    import os
    import socket

    if not 0 <= int(port) <= 65535:
        raise ValueError(f"port must be 0 (any free port) to 65535, not {port}")
    try:
        found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)  # fmt: skip
        family = found[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else str(err)
        raise OSError(f"cannot serve on {host}:{port}: {reason}") from None
