"""Which addresses the fetcher may connect to."""

from __future__ import annotations

import pytest

from aggregator.ingest import addresses

LOOPBACK = addresses.parse_networks(["127.0.0.1/32"])


@pytest.mark.parametrize(("addr", "ok"), [
    ("93.184.216.34", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("127.0.0.2", False), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False),
    ("::1", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ("2002:7f00:0001::", False), ("64:ff9b::a00:1", False), ("fe80::1", False), ("fc00::1", False),
    ("224.0.0.1", False), ("255.255.255.255", False), ("not-an-ip", False),
    ("::127.0.0.2", False), ("::10.0.0.1", False), ("::ffff:0:127.0.0.1", False),
    ("::8.8.8.8", True), ("::", False),
])
def test_address_policy(addr: str, ok: bool) -> None:
    assert addresses.allowed(addr, ()) is ok


def test_allowed_networks_are_exact() -> None:
    assert addresses.allowed("127.0.0.1", LOOPBACK)
    assert addresses.allowed("::ffff:127.0.0.1", LOOPBACK)
    assert not addresses.allowed("127.0.0.2", LOOPBACK)
