"""Where a link an editor gives may lead Siar (no network: literal addresses and localhost)."""

from __future__ import annotations

import pytest
from siar_runtime.egress import Egress, Refused, networks
from siar_runtime.settings import ServiceSettings


@pytest.mark.parametrize(("address", "kind"), [
    ("93.184.216.34", None), ("2606:2800:220:1::1", None),
    ("127.0.0.1", "loopback"), ("::1", "loopback"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("10.1.2.3", "private"), ("172.16.0.9", "private"), ("192.168.1.10", "private"), ("fd00::7", "private"),
    ("100.64.0.1", "private"),  # carrier-grade NAT
    ("192.0.2.1", "private"),  # documentation, not routed
    ("::ffff:10.0.0.7", "private"), ("64:ff9b::a00:7", "private"),  # IPv4 written as IPv6
    ("::ffff:169.254.169.254", "link-local"),
    ("::7f00:1", "loopback"), ("::ffff:0:7f00:1", "loopback"), ("2002:a9fe:a9fe::", "link-local"),  # compatible,
    ("64:ff9b:1::a00:7", "reserved"), ("fec0::1", "reserved"), ("240.0.0.1", "reserved"),  # translated, 6to4
    ("2002:5db8:d822::1", None),  # 6to4 of a public address
    ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"),
])
def test_only_public_addresses_by_default(address, kind):
    said = Egress().why_not(address)
    assert (said is None) if kind is None else (kind in said)


def test_the_operator_allows_addresses_and_networks_but_metadata_only_by_itself():
    egress = Egress(networks("10.20.0.0/16, fd00::/8 ,127.0.0.1, 169.254.0.0/16"))
    assert egress.why_not("10.20.3.4") is None and egress.why_not("fd00::7") is None
    assert egress.why_not("127.0.0.1") is None and "loopback" in egress.why_not("127.0.0.2")
    assert "private" in egress.why_not("10.21.0.1")
    assert "link-local" in egress.why_not("169.254.169.254")  # a wide network does not let it through
    assert Egress(networks("169.254.169.254")).why_not("169.254.169.254") is None


def test_a_wrong_entry_is_named():
    with pytest.raises(ValueError, match="'intranet.local' is not an IP address or network"):
        networks("10.0.0.0/8, intranet.local")
    with pytest.raises(ValueError, match="SIAR_ALLOWED_PRIVATE_ADDRESSES|allowed_private_addresses"):
        ServiceSettings(allowed_private_addresses="10.0.0.0/33")
    assert ServiceSettings(allowed_private_addresses="").egress().allowed == ()


async def test_resolving_keeps_only_the_allowed_addresses_and_refuses_when_none_is():
    with pytest.raises(Refused, match="a loopback address"):  # 127.0.0.1 or ::1, as /etc/hosts says
        await Egress().resolve("localhost", 80)
    with pytest.raises(Refused, match=r"leads to 10.0.0.7, a private network address .*SIAR_ALLOWED_PRIVATE_ADDRESSES"):
        await Egress().resolve("[::ffff:10.0.0.7]", 80)
    assert [a for _, a in await Egress(networks("127.0.0.0/8")).resolve("localhost", 80)] == ["127.0.0.1"]
    assert [a for _, a in await Egress().resolve("93.184.216.34", 443)] == ["93.184.216.34"]


async def test_a_name_with_a_public_and_a_private_address_gives_the_public_one_only(monkeypatch):
    """A name whose records mix a public and a private address: the publisher's download and the
    scheduler's check connect to the public one only (they connect to what this returns)."""
    import asyncio
    import socket

    async def both(host, port, *, family=0, type=0, proto=0, flags=0):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("169.254.169.254", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", both)  # no DNS server with such a name here
    assert [a for _, a in await Egress().resolve("media.example", 80)] == ["93.184.216.34"]
