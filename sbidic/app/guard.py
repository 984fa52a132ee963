"""A pure-ASGI guard in front of the app: Host and Origin checks, and the upload size
counted on the bytes received.

The app listens on the loopback interface, but a web page open in the user's browser
can still reach it: by DNS rebinding (a host name of the attacker's that resolves to
127.0.0.1, so the browser sends ``Host: attacker.example``) or by opening a WebSocket
to ``ws://127.0.0.1:PORT`` directly (browsers send the page's ``Origin`` and let the
server decide). :class:`Guard` refuses both before the request reaches Shiny, and stops
an upload once more bytes than the limit have arrived, whatever size the client
declared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["LOOPBACK_HOSTS", "Guard", "normalize_host", "split_host"]

#: Host names always accepted: the loopback names the app binds to by default.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")

#: Requests that change nothing, whose ``Origin`` is not checked.
SAFE_METHODS = frozenset({"GET", "HEAD"})

_UPLOAD_PATH = re.compile(r"^(?:/.*)?/session/[^/]+/upload/[^/]+/?$")
_PORT = re.compile(r"^[0-9]{1,5}$")


class _TooLarge(Exception):
    """Raised into the app when an upload's body passes the limit."""


def normalize_host(name: str) -> str:
    """A host name as :class:`Guard` compares it.

    Parameters
    ----------
    name : str
        A host name or address, without port: ``"LocalHost"``, ``"::1"``, ``"[::1]"``,
        ``"example.org."``.

    Returns
    -------
    str
        Lower case, without a trailing dot, IPv6 addresses in brackets: ``"localhost"``,
        ``"[::1]"``, ``"example.org"``.

    Raises
    ------
    ValueError
        Empty, or with characters no host name has (``/``, ``@``, spaces...).
    """
    host = name.strip().lower().rstrip(".")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # a bare IPv6 address
    if not host or not re.fullmatch(r"[a-z0-9._\-]+|\[[0-9a-f:.]+\]", host):
        raise ValueError(f"not a host name: {name!r}")
    return host


def split_host(value: str) -> tuple[str, int | None] | None:
    """A ``Host`` header (or an Origin's ``host[:port]``) as ``(name, port)``.

    Parameters
    ----------
    value : str
        ``"127.0.0.1:8000"``, ``"localhost"``, ``"[::1]:8000"``...

    Returns
    -------
    tuple of (str, int or None), or None
        The normalized name (:func:`normalize_host`) and the port (None where absent);
        None where ``value`` is not a valid ``host[:port]``.
    """
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:] if rest else None
    else:
        name, sep, port = value.rpartition(":")
        if not sep:
            name, port = value, None
    if port is not None and not _PORT.match(port):
        return None
    try:
        return normalize_host(name), None if port is None else int(port)
    except ValueError:
        return None


class Guard:
    """Wrap an ASGI app: refuse foreign ``Host`` and ``Origin`` headers, and stop
    uploads past a size limit.

    Parameters
    ----------
    app : ASGI application
        The app to protect (the Shiny app).
    allowed_hosts : iterable of str, optional
        Host names accepted besides :data:`LOOPBACK_HOSTS` (``sbidic app --allow-host``),
        without port; any port is accepted with them.
    upload_limit_bytes : int, optional
        Largest request body of an upload (``POST /session/<id>/upload/<job>``), counted
        on the bytes received; a larger one is answered 413. None: no limit.

    Notes
    -----
    Every HTTP request and WebSocket needs a ``Host`` header naming an allowed host
    (any port), else: HTTP 403, or the WebSocket is closed with code 1008 before it is
    accepted. WebSockets and HTTP requests other than GET and HEAD that carry an
    ``Origin`` (browsers send it) must come from ``http(s)://`` the same host and port
    as their ``Host`` header: another page, even on another port of this machine, is
    refused. Requests without ``Origin`` (non-browser clients) pass that check.
    """

    def __init__(self, app, allowed_hosts: Iterable[str] = (),
                 upload_limit_bytes: int | None = None) -> None:  # fmt: skip
        self.app = app
        self.allowed_hosts = frozenset(LOOPBACK_HOSTS) | {normalize_host(h)
                                                          for h in allowed_hosts}  # fmt: skip
        self.upload_limit_bytes = upload_limit_bytes

    # ------------------------------------------------------------------ checks
    def host_allowed(self, host: str | None) -> bool:
        """Whether a ``Host`` header names an allowed host (with or without port)."""
        parsed = None if host is None else split_host(host)
        return parsed is not None and parsed[0] in self.allowed_hosts

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Whether an ``Origin`` header is absent, or ``http(s)://`` the host and port
        of the request's (allowed) ``Host`` header."""
        if origin is None:
            return True
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/") or (
                parts.username is not None or parts.query or parts.fragment):  # fmt: skip
            return False
        got, want = split_host(parts.netloc), None if host is None else split_host(host)
        if got is None or want is None or got[0] not in self.allowed_hosts:
            return False
        default = 443 if parts.scheme == "https" else 80
        return (got[0], got[1] or default) == (want[0], want[1] or default)

    def refusal(self, scope) -> str | None:
        """Why a connection is refused (None: it is accepted)."""
        headers = _headers(scope)
        host = headers.get("host")
        if not self.host_allowed(host):
            return f"host {host!r} is not served (sbidic app --allow-host NAME)"
        checks_origin = scope["type"] == "websocket" or scope.get("method") not in SAFE_METHODS
        if checks_origin and not self.origin_allowed(headers.get("origin"), host):
            return f"cross-origin request from {headers.get('origin')!r} refused"
        return None

    # -------------------------------------------------------------------- ASGI
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):  # lifespan
            await self.app(scope, receive, send)
            return
        reason = self.refusal(scope)
        if reason is not None:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})  # policy violation
            else:
                await _respond(send, 403, f"Forbidden: {reason}")
            return
        limit = self.upload_limit_bytes
        if (limit is None or scope["type"] != "http" or scope.get("method") != "POST"
                or not _UPLOAD_PATH.match(scope.get("path", ""))):  # fmt: skip
            await self.app(scope, receive, send)
            return
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope, receive, send, limit: int) -> None:
        """Run the app with a ``receive`` that counts the body and stops past ``limit``."""
        too_large = f"Payload Too Large: the upload limit is {limit} bytes"
        declared = _headers(scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _respond(send, 413, too_large)
            return
        received = 0
        over = False
        started = False

        async def counting_receive():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise _TooLarge
            return message

        async def guarded_send(message):
            nonlocal started
            if over:  # the app's answer to the interrupted upload: replaced by 413
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not over:
                raise
        if over and not started:
            await _respond(send, 413, too_large)


def _headers(scope) -> dict[str, str]:
    """The request's headers, names in lower case (the first of repeated ones)."""
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        out.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return out


async def _respond(send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
