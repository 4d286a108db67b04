"""Who sent a request to the survey page, for the per-client rate limit only.

The client is the socket's peer, unless that peer is one of the trusted reverse proxies
(SIAR_SURVEY_TRUSTED_PROXIES; by default loopback and private networks, as in Rails'
ActionDispatch::RemoteIp): then X-Forwarded-For is read from the right, skipping trusted
proxies, and the first address that is not one is the client. Whatever a client writes into
X-Forwarded-For itself stands to the left of what the proxies add, so it is never reached. An
IPv6 client is counted by its /64 (one household or phone gets a whole /64 and may pick any
address in it). The address itself is never stored: only an HMAC of it keyed by the service's
secret, in rate-limit windows pruned after ten minutes."""

from __future__ import annotations

import hashlib
import hmac
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network
UNKNOWN = "unknown"


def parse_networks(value: str) -> tuple[Network, ...]:
    """Comma- or space-separated addresses and networks (``10.0.0.0/8, 192.0.2.7``); ValueError
    names the first one that is neither."""
    networks = []
    for item in value.replace(",", " ").split():
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"{item!r} is not an IP address or network") from exc
    return tuple(networks)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.split(":")[0]
    try:
        address = ip_address(text.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: IPv4Address | IPv6Address, proxies: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in proxies)


def client_address(peer: str | None, forwarded_for: list[str], proxies: tuple[Network, ...]) -> str:
    """The client's address (an IPv6 one as its /64), or ``unknown`` without a peer."""
    current = _address(peer) if peer else None
    if current is None:
        return UNKNOWN if not peer else peer
    if proxies and _trusted(current, proxies):
        hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # a trusted proxy passed on something that is not an address: stop at it
            current = address
            if not _trusted(address, proxies):
                break
    if isinstance(current, IPv6Address):
        return str(IPv6Network((current, 64), strict=False))
    return str(current)


def client_hash(secret: str, address: str) -> bytes:
    return hmac.new(secret.encode(), f"client:{address}".encode(), hashlib.sha256).digest()[:16]
