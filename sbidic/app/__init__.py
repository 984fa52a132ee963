"""``sbidic app``: a local web application over the public API.

Load spike trains, infer degenerate populations, explore them, simulate chosen cells
and download everything, in the browser. Built with Shiny for Python
(``pip install sbidic[app]``; the choice is measured in ``docs/app-framework.md``).
The modules: :mod:`~sbidic.app.state` (loading inputs, running jobs),
:mod:`~sbidic.app.figures`, :mod:`~sbidic.app.tables`, :mod:`~sbidic.app.downloads`
(the bytes the CLI writes), :mod:`~sbidic.app.views` (the page) and
:mod:`~sbidic.app.server` (the wiring).
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]

#: Default largest upload, MB.
UPLOAD_LIMIT_MB = 50.0


def create_app(upload_limit_mb: float = UPLOAD_LIMIT_MB):
    """The Shiny application (an ASGI app)."""
    from shiny import App

    from sbidic.app.server import make_server
    from sbidic.app.views import page

    return App(page(upload_limit_mb), make_server(upload_limit_mb))


def serve(host: str = "127.0.0.1", port: int = 0, *, open_browser: bool = True,
          upload_limit_mb: float = UPLOAD_LIMIT_MB) -> None:  # fmt: skip
    """Serve the app until interrupted; prints its URL (port 0: a free port)."""
    import socket
    import threading
    import webbrowser

    import uvicorn

    if port == 0:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
    app = create_app(upload_limit_mb)  # imports first: the URL printed is ready to serve
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/"
    print(f"sbidic app: serving on {url} (Ctrl+C to stop)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(app, host=host, port=port, log_level="warning")
