"""The listening sockets of `serve --workers N`: on Linux, one per worker, spread by the kernel.

uvicorn's supervisor binds one socket and every worker accepts from it. The workers then race
for connections, and the one that wakes first takes every connection waiting: 64 keep-alive
clients connecting at once were split 56 / 8 between two workers, so one worker ran out of CPU
while the other idled. With SO_REUSEPORT each worker listens on a socket of its own, bound to
the same address, and the kernel hands each new connection to one of them by a hash of the
client's address and port, which spreads connections evenly whenever they arrive.

The supervisor passes its sockets to each worker it starts (and restarts) by pickling them into
the new process; the socket made here pickles as the call that makes the worker's own socket
there. The supervisor keeps its socket bound and never listens on it, so the port stays
reserved while workers come and go, and no connection is ever queued on it: the kernel gives
connections to listening sockets only.

Elsewhere SO_REUSEPORT does not spread connections (macOS and the BSDs give them to one
socket), so there the workers share the supervisor's socket as uvicorn does by default.
What SO_REUSEPORT allows, it allows to the same user only: another process of the user
running the server could bind the port too.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

SPREADS_CONNECTIONS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


class SpreadListener(socket.socket):
    """The supervisor's socket: bound, never listening, arriving in each worker as its own."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (own_listener, (self.family, self.getsockname()))


def spread_listener(host: str, port: int) -> SpreadListener:
    """The supervisor's socket for `host:port` (OSError if the address cannot be bound)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = SpreadListener(family, socket.SOCK_STREAM)
    try:
        _bind_shared(sock, (host, port))
    except OSError:
        sock.close()
        raise
    return sock


def own_listener(family: socket.AddressFamily, address: Any) -> socket.socket:
    """A worker's own socket on the supervisor's address (runs in the worker, as it starts)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    _bind_shared(sock, address)
    return sock


def _bind_shared(sock: socket.socket, address: Any) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
