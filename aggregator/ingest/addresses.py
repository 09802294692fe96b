"""Which addresses the fetcher may connect to. Pure functions.

Only globally routable addresses, after unwrapping IPv4-mapped, IPv4-compatible,
IPv4-translated, 6to4, Teredo and NAT64 forms
(Python's ``ipaddress`` calls ``::ffff:127.0.0.1`` not loopback and ``100.64.0.1`` not private,
so ``is_global`` of the unwrapped address is the test), unless a configured network allows it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# IPv4-compatible (::a.b.c.d, deprecated) and IPv4-translated (::ffff:0:a.b.c.d) addresses.
_EMBEDDING = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))


def unwrap(addr: IPAddress) -> IPAddress:
    """The IPv4 address hidden inside an IPv6 transition form, else the address itself."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.sixtofour is not None:
            return addr.sixtofour
        if addr.teredo is not None:
            return addr.teredo[1]
        if addr in _NAT64 or addr in _NAT64_LOCAL:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if any(addr in net for net in _EMBEDDING) and int(addr) & 0xFFFFFFFF > 1:
            return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return addr


def parse_networks(
    cidrs: Iterable[str],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


@lru_cache(maxsize=4096)
def allowed(
    address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool:
    """True when ``address`` may be connected to (cached: a poll asks about the same few hosts)."""
    try:
        addr = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    inner = unwrap(addr)
    for net in networks:
        if addr in net or inner in net:
            return True
    return inner.is_global and addr.is_global is not False and not inner.is_multicast


@lru_cache(maxsize=4096)
def literal(host: str) -> str | None:
    """The address when ``host`` is an IP literal (brackets removed), else None."""
    h = host.strip("[]")
    try:
        return str(ipaddress.ip_address(h.split("%", 1)[0]))
    except ValueError:
        return None
