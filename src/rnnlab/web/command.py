"""``rnnlab serve [CKPT]``: start the web lab and print its address.

FastAPI and uvicorn are imported inside the command, so ``rnnlab --help`` stays fast
and the core needs neither (they come with ``pip install "rnnlab[web]"``).
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Annotated

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


def serve_command(
    checkpoint: Annotated[
        Path | None,
        typer.Argument(help="a language-model checkpoint or run directory to show (optional)"),
    ] = None,
    port: Annotated[int, typer.Option(min=0, max=65535, help="port; 0 picks a free one")] = 8000,
    host: Annotated[
        str, typer.Option(help="address to listen on; the default keeps it on this machine")
    ] = "127.0.0.1",
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

    lab = Lab(checkpoint)
    local = is_loopback(host)
    app = create_app(lab, allowed_hosts=LOOPBACK_NAMES if local else None)
    sock = bind(host, port)
    typer.echo(f"rnnlab web lab: {url_of(sock)}  (Ctrl+C to stop)")
    if not local:
        typer.echo(f"warning: listening on {host}: anyone who can reach this machine can use it")
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        lab.close()
