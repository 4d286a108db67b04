"""Where a link an editor typed may lead Siar: public addresses, and private ones only where the
operator allows them.

A post's media link is fetched by Siar itself — tried by the scheduler when the post is written,
downloaded by the publisher at the post's time and uploaded to the platforms. Left alone, a link
to ``http://169.254.169.254/…`` (a cloud's instance metadata, with its credentials) or to a
service on the library's own network would be fetched from inside, and its answer told to the
editor or even posted. So a link must resolve to a public address; loopback, private (RFC 1918,
unique local), link-local, carrier-grade NAT, multicast and reserved addresses are refused unless
``SIAR_ALLOWED_PRIVATE_ADDRESSES`` lists them (addresses or networks, comma-separated: a
library's intranet media server, the sandbox of a fresh install) — the way Mastodon's
``ALLOWED_PRIVATE_ADDRESSES`` does it. Link-local addresses are refused even then unless listed
one by one, never by a wider network.

The check is on the addresses a name resolves to, and the caller connects to exactly those
(:meth:`Egress.resolve`), so a name that answers differently the second time (DNS rebinding)
gains nothing."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

VARIABLE = "SIAR_ALLOWED_PRIVATE_ADDRESSES"


class Refused(Exception):
    """A link leads only to addresses Siar does not fetch from; the message says which and why,
    in words for the editor."""


def networks(text: str | Iterable[str]) -> tuple[Network, ...]:
    """``SIAR_ALLOWED_PRIVATE_ADDRESSES``: addresses and networks, comma-separated (or a list);
    ValueError naming the entry that is neither."""
    entries = text.split(",") if isinstance(text, str) else list(text)
    found = []
    for entry in (e.strip() for e in entries):
        if not entry:
            continue
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (such as 10.20.0.0/16 or "
                             "fd00::/8); host names are not accepted, their addresses can change") from None
    return tuple(found)


def _plain(address: Address) -> Address:
    """An IPv4 address carried inside an IPv6 one as itself: mapped (::ffff:10.0.0.1), compatible
    (::10.0.0.1), translated (::ffff:0:10.0.0.1), NAT64 (64:ff9b::a00:1), 6to4 (2002:a00:1::) and
    Teredo's client; such an address reaches the IPv4 one where the route exists."""
    if isinstance(address, ipaddress.IPv6Address):
        value = int(address)
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in _NAT64 or address in _TRANSLATED or (address in _COMPATIBLE and value > 1):
            return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return address


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")  # ::10.0.0.1 (but :: and ::1, themselves)
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")  # the only IPv6 addresses that are public servers


class Egress:
    def __init__(self, allowed: Iterable[Network] = ()) -> None:
        self.allowed = tuple(allowed)

    def why_not(self, address: str | Address) -> str | None:
        """None if Siar may fetch from this address, else what kind of address it is."""
        ip = _plain(ipaddress.ip_address(address) if isinstance(address, str) else address)
        kind = _kind(ip)
        if kind is None:
            return None
        for net in self.allowed:
            if ip.version == net.version and ip in net:
                if ip.is_link_local and net.num_addresses > 1:
                    continue  # 169.254.169.254 only by its own name in the list
                return None
        return kind

    async def resolve(self, host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[int, str]]:
        """The (family, address) pairs of ``host`` that may be fetched from, in the resolver's
        order, for the caller to connect to (and to no other); :class:`Refused` if none may.
        ``socket.gaierror`` if the name does not resolve."""
        host = host.strip("[]")
        try:
            literal: Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            pairs = [(socket.AF_INET6 if literal.version == 6 else socket.AF_INET, str(literal))]
        else:  # a name, or a number the resolver reads as an address (2130706433, 127.1, 0x7f.1)
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
            pairs = list(dict.fromkeys((info[0], str(info[4][0]).split("%", 1)[0]) for info in infos))
        refused = [a for _, a in pairs if self.why_not(a) is not None]
        usable = [(f, a) for f, a in pairs if self.why_not(a) is None]
        if usable:
            return usable
        address = str(_plain(ipaddress.ip_address(refused[0]))) if refused else host
        raise Refused(f"leads to {address}, {self.why_not(address) or 'an address'} Siar does not fetch from: "
                      f"a link must lead to a public server, or the operator must allow this address "
                      f"({VARIABLE})")


def _kind(ip: Address) -> str | None:
    if ip.is_loopback:
        return "a loopback address (this machine)"
    if ip.is_link_local:
        return "a link-local address (such as a cloud's instance metadata)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private and not ip.is_reserved:
        return "a private network address"
    if ip.is_reserved or (isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST):
        return "a reserved address"  # 240.0.0.0/4, fec0:: site-local, 64:ff9b:1::/48, …
    if not ip.is_global:
        return "a private network address"  # 100.64.0.0/10 (carrier-grade NAT) and the like
    return None
