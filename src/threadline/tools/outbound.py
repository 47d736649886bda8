"""The guard on URLs that API callers make Threadline reach (MCP servers, `file_url`).

A caller must not be able to use the server to reach what only the server can reach: its own
loopback interface, the private network it sits in, or the cloud metadata address. So a URL is
refused unless every address its host resolves to is a public one, or the host is in the
operator's allowlist, or the operator allows private addresses outright
(`THREADLINE_OUTBOUND_ALLOW_PRIVATE`, for development and tests).

An IPv6 address can carry an IPv4 one that a gateway or the host's own stack delivers to:
IPv4-mapped and IPv4-compatible forms, NAT64 (64:ff9b::/96), 6to4 (2002::/16) and Teredo. The
carried address is checked too, so `[::7f00:1]` is the loopback it names. The NAT64 local-use
prefix (64:ff9b:1::/48) places the IPv4 address where its operator chose, so it is refused.

What a host resolves to goes to the log, not to the caller: it would map the private network.

The check resolves the name before the request is made; the HTTP client resolves it again to
connect. A DNS server that answers differently the second time (rebinding) is not defeated by
this guard: deployments that need that assurance should also filter egress at the network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from threadline.tools.base import OutboundRefused, ToolFailure

log = logging.getLogger("threadline")

_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")


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
                log.warning("Outbound request refused: %s resolves to %s", host, address)
                raise OutboundRefused(
                    f"Refused to connect to '{host}': it resolves to a loopback, private or "
                    "reserved address. An operator can allow it with "
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
        log.warning("Outbound request failed: cannot resolve %s: %s", host, exc)
        raise ToolFailure(f"Cannot resolve '{host}'.", code=502) from exc
    return sorted({str(info[4][0]) for info in infos})


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _is_global(ip)
    if ip in _NAT64_LOCAL_USE:
        return False
    wrapped = _wrapped_ipv4(ip)
    if wrapped is not None:  # the IPv6 form only spells the IPv4 address
        return _is_global(wrapped)
    tunnelled = _tunnelled_ipv4(ip)
    return _is_global(ip) and all(_is_global(carried) for carried in tunnelled)


def _wrapped_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _IPV4_COMPATIBLE or ip in _NAT64_WELL_KNOWN:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def _tunnelled_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 ends of a 6to4 or Teredo address (Teredo's client is stored obfuscated; the
    standard library undoes that)."""
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return []


def _is_global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast
