"""The client's IP address, as both interfaces see it: the peer, or what a trusted proxy says.

The auth rate limit counts per client IP, and sessions record it. A connection's peer is
the client unless the peer is a proxy listed in ``FORWARDED_ALLOW_IPS``: then the client
is in the ``X-Forwarded-For`` list (REST header, gRPC metadata), which each proxy extends
with the address it received the request from. Read from the right, every entry added
by a trusted proxy is believed, up to the first address that is not a trusted proxy:
that one is the client. Entries further left came from the client itself and could say
anything. An entry that is not an IP address stops the walk at the proxy that passed it
on, so the identity is always an address some trusted proxy actually saw.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from app.infrastructure.setting_values import TrustedProxies

FORWARDED_FOR = "x-forwarded-for"


def client_host(peer: str, forwarded_for: Iterable[str], trusted: TrustedProxies) -> str:
    """The client's address, from the peer's and the ``X-Forwarded-For`` values (every one sent, in order)."""
    if peer not in trusted:
        return peer
    entries = [entry for value in forwarded_for for entry in value.split(",")]
    hop = peer
    for entry in reversed(entries):
        address = _address(entry)
        if address is None:
            return hop
        if address not in trusted:
            return address
        hop = address
    return hop


def _address(entry: str) -> str | None:
    """``203.0.113.7``, ``203.0.113.7:4711``, ``2001:db8::1`` or ``[2001:db8::1]:4711`` → the address alone."""
    text = entry.strip()
    if text.startswith("["):
        text, closed, port = text[1:].partition("]")
        if not closed or (port and not port.startswith(":")):
            return None
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    if "%" in text:  # an IPv6 zone names an interface of the sender's host, of any length
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
