"""``rnnlab serve [CKPT] [--runs DIR ...]``: start the web lab and print its address.

FastAPI and uvicorn are imported inside the command, so ``rnnlab --help`` stays fast
and the core needs neither (they come with ``pip install "rnnlab[web]"``).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnlab.errors import ConfigError

LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (port 0: a free one, chosen now)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as error:
        raise ConfigError(f"cannot listen on {host}:{port}: {error}") from None
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    """http://HOST:PORT/ of a bound socket (IPv6 hosts in brackets)."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def timely_protocol(seconds: float | None = None) -> type:
    """uvicorn's HTTP/1.1 protocol with a deadline: a client must send each whole request
    (line, headers and body) within ``seconds`` (``limits.REQUEST_SECONDS``) of
    connecting or of the previous answer, or it is disconnected; time while the server
    itself has paused reading (a queued request's body waits to be read) does not count.
    uvicorn's own keep-alive timer stops at the first byte, so a client sending a byte
    now and then (slowloris) would otherwise hold its connection for ever."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from rnnlab.web import limits

    deadline = limits.REQUEST_SECONDS if seconds is None else seconds

    class TimelyH11Protocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if not self._receiving():
                self._disarm()  # the whole request is in

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _receiving(self) -> bool:
            """Waiting for (the rest of) a request, not answering one."""
            return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

        def _arm(self) -> None:
            self._disarm()
            if self._receiving():
                self.request_timer = self.loop.call_later(deadline, self._too_slow)

        def _disarm(self) -> None:
            timer = getattr(self, "request_timer", None)
            if timer is not None:
                timer.cancel()
                self.request_timer = None

        def _too_slow(self) -> None:
            self.request_timer = None
            if self.flow.read_paused:  # we stopped reading (the app has not asked yet for
                self._arm()  # the body it will read once queued): not the client's delay
            elif self._receiving() and not self.transport.is_closing():
                self.transport.close()

    return TimelyH11Protocol


def serve_command(
    checkpoint: Annotated[
        Path | None,
        typer.Argument(help="a language-model checkpoint or run directory to show (optional)"),
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="port; 0 picks a free one")] = 8000,
    host: Annotated[
        str, typer.Option(help="address to listen on; the default keeps it on this machine")
    ] = "127.0.0.1",
    runs: Annotated[
        list[Path] | None,
        typer.Option(
            "--runs",
            metavar="DIR",
            help="a run directory of rnnlab train, or a directory of them, whose loss curves "
            "(metrics.jsonl) the Compare runs panel shows; repeat for more",
        ),
    ] = None,
) -> None:
    """Start the web lab: watch a recurrent network think, step by step, in the browser.

    Without a checkpoint it offers small built-in models that train in seconds.
    """
    try:
        import uvicorn

        from rnnlab.web.app import create_app
        from rnnlab.web.lab import Lab
    except ImportError as error:
        raise ConfigError(
            f'the web lab needs FastAPI and uvicorn ({error}); pip install "rnnlab[web]"'
        ) from None

    lab = Lab(checkpoint, runs=runs or ())
    local = is_loopback(host)
    app = create_app(lab, allowed_hosts=LOOPBACK_NAMES if local else None)
    sock = bind(host, port)
    typer.echo(f"rnnlab web lab: {url_of(sock)}  (Ctrl+C to stop)")
    if not local:
        typer.echo(f"warning: listening on {host}: anyone who can reach this machine can use it")
    config = uvicorn.Config(app, log_level="warning", access_log=False, http=timely_protocol())
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        lab.close()
