"""The SSRF guard's address rule, as a table: only globally reachable unicast addresses pass, and an
IPv4 address carried inside an IPv6 one is judged as itself."""

from __future__ import annotations

import pytest

from toolwire.upstream.net import is_public

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of a public address (DNS64 networks)
    "2002:808:808::1",  # 6to4 of a public address
    "2600::200:5efe:808:808",  # ISATAP around a public address
    "2a00:1450:4001::1%eth0",
]
NOT_PUBLIC = [
    *("127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1"),
    *("0.0.0.0", "255.255.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1"),
    *("192.0.0.8", "192.0.0.170", "192.0.2.1", "198.18.0.1", "198.51.100.1", "203.0.113.1"),
    "192.88.99.1",
    *("::", "::1", "fe80::1", "fec0::1", "fc00::1", "fd00:ec2::254", "ff02::1", "ff0e::1"),
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::8.8.8.8",
    "64:ff9b::7f00:1",  # NAT64 of loopback
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::a00:1",
    "64:ff9b:1::808:808",  # local-use NAT64 prefix (RFC 8215)
    "2002:7f00:1::1",  # 6to4 of loopback
    "2002:a00:1::1",
    "2002:a9fe:a9fe::1",
    "2001::1",  # Teredo
    "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "2600::200:5efe:7f00:1",  # ISATAP around loopback
    "2600::5efe:a00:1",
    "fe80::5efe:808:808",
    "2001:db8::1",
    "3fff::1",
    "100::1",
    "5f00::1",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_a_globally_reachable_address_passes(address: str) -> None:
    assert is_public(address)


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_every_other_address_is_refused(address: str) -> None:
    assert not is_public(address)
