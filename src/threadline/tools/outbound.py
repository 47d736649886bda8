"""The guard on URLs that API callers make Threadline reach (MCP servers, `file_url`).

A caller must not be able to use the server to reach what only the server can reach: its own
loopback interface, the private network it sits in, or the cloud metadata address. So a URL is
refused unless every address its host resolves to is a public one, or the host is in the
operator's allowlist, or the operator allows private addresses outright
(`THREADLINE_OUTBOUND_ALLOW_PRIVATE`, for development and tests).

The check resolves the name before the request is made; the HTTP client resolves it again to
connect. A DNS server that answers differently the second time (rebinding) is not defeated by
this guard: deployments that need that assurance should also filter egress at the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from threadline.tools.base import OutboundRefused, ToolFailure


class OutboundPolicy:
    def __init__(self, *, allow_private: bool = False, allowed_hosts: Iterable[str] = ()) -> None:
        self.allow_private = allow_private
        self.allowed_hosts = frozenset(host.lower().strip("[]") for host in allowed_hosts)

    async def check(self, url: str) -> None:
        """Raise `OutboundRefused` unless `url` is http(s) to an allowed address."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise OutboundRefused(f"Only http and https URLs can be reached, not '{url[:100]}'.")
        host = (parts.hostname or "").lower()
        if not host:
            raise OutboundRefused(f"The URL '{url[:100]}' has no host.")
        if self.allow_private or host in self.allowed_hosts:
            return
        for address in await _addresses(host, parts.port or _default_port(parts.scheme)):
            if not _is_public(address):
                raise OutboundRefused(
                    f"Refused to connect to '{host}': it resolves to {address}, a loopback, "
                    "private or reserved address. An operator can allow it with "
                    "THREADLINE_OUTBOUND_ALLOWED_HOSTS (this host) or "
                    "THREADLINE_OUTBOUND_ALLOW_PRIVATE=true."
                )


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


async def _addresses(host: str, port: int) -> list[str]:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [host]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ToolFailure(f"Cannot resolve '{host}': {exc}", code=502) from exc
    return sorted({str(info[4][0]) for info in infos})


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
