"""Which worker process of a `threadline serve --workers N` holds a client's connection.

The kernel hands each new connection to one of the workers (to each worker's own listening
socket by a hash of the client's address, on Linux: cli/worker_sockets.py); a test that means
to write through every worker pins keep-alive connections to workers first.
The owner of a connection is read from /proc (Linux): the server-side socket of the TCP
connection (local port = the server's, remote port = the client's) has an inode, and the worker
holding it has a file descriptor `socket:[inode]`.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx

ESTABLISHED = "01"


def child_processes(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def serving_process(response: httpx.Response, server_port: int, candidates: list[int]) -> int:
    """The pid among `candidates` that holds the connection `response` came over."""
    stream = response.extensions["network_stream"]
    return holder(server_port, int(stream.get_extra_info("client_addr")[1]), candidates)


def holder(server_port: int, client_port: int, candidates: list[int]) -> int:
    """The pid among `candidates` that holds the connection from `client_port`."""
    inode = _server_side_inode(server_port, client_port)
    for pid in candidates:
        if inode in _socket_inodes(pid):
            return pid
    raise AssertionError(f"no process among {candidates} holds the connection from {client_port}")


def _server_side_inode(server_port: int, client_port: int) -> int:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if (
                state == ESTABLISHED
                and int(local.rsplit(":", 1)[1], 16) == server_port
                and int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return int(inode)
    raise AssertionError(f"no open connection from port {client_port} to {server_port}")


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    directory = f"/proc/{pid}/fd"
    for fd in os.listdir(directory):
        try:
            target = os.readlink(f"{directory}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes
