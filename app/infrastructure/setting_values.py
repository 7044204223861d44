"""Settings whose value is more than a type: an SMTP endpoint, trusted proxy networks, a cron schedule.

Each reader raises ValueError naming its variable, which ``load_settings`` turns into a
refusal to start; the adapters read the same values with the same functions.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class SmtpEndpoint:
    host: str
    port: int
    #: ``smtps://``: TLS from the first byte. ``smtp://`` upgrades with STARTTLS when the server offers it.
    implicit_tls: bool
    username: str | None
    password: str | None


def smtp_endpoint(url: str) -> SmtpEndpoint:
    """``smtp://[user:password@]host[:port]`` (default port 25) or ``smtps://…`` (465).

    ValueError naming ``SMTP_URL`` otherwise; the message never quotes the URL (it may hold a password).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"smtp", "smtps"}:
        raise ValueError(f"SMTP_URL: unsupported scheme {scheme or 'none'!r}, expected smtp:// or smtps://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("SMTP_URL: the port is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"SMTP_URL: no host after {scheme}://")
    return SmtpEndpoint(
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        implicit_tls=scheme == "smtps",
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The peers whose ``X-Forwarded-For`` is believed: every peer, or those in ``networks``."""

    everyone: bool = False
    networks: tuple[IPNetwork, ...] = ()

    def __contains__(self, host: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # an IPv4 peer on a dual-stack socket
        return any(address in network for network in self.networks)

    def __bool__(self) -> bool:
        return self.everyone or bool(self.networks)


def trusted_proxies(value: str) -> TrustedProxies:
    """``FORWARDED_ALLOW_IPS``: comma-separated IP addresses and CIDR networks, or ``*`` alone; empty: none.

    ValueError naming the variable for anything else: uvicorn's own reading of the same
    variable would take a typo for a host name and trust nobody, or the wrong proxy, silently.
    """
    entries = [entry.strip() for entry in value.split(",") if entry.strip()]
    if entries == ["*"]:
        return TrustedProxies(everyone=True)
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError:
            raise ValueError(
                f"FORWARDED_ALLOW_IPS: {entry!r} is not an IP address or network (or * alone, for every peer)"
            ) from None
    return TrustedProxies(networks=tuple(networks))


#: The range of each of the five cron fields: minute, hour, day of month, month, day of week.
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))
_CRON_TERM = re.compile(r"^(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


def check_cron(name: str, expression: str) -> None:
    """Five numeric cron fields (``*``, ``n``, ``a-b``, each optionally ``/step``, comma-separated).

    Checked here because the scheduler's own parser silently never fires on a field it
    cannot read: a typo would mean sessions that are never purged.
    """
    fields = expression.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(f"{name}: expected five cron fields, got {expression!r}")
    for value, (field, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        for term in value.split(","):
            match = _CRON_TERM.match(term)
            start, end, step = match.group(2, 3, 4) if match else (None, None, None)
            bounds = [int(n) for n in (start, end) if n is not None]
            if match is None or not all(low <= n <= high for n in bounds) or (step is not None and int(step) == 0):
                raise ValueError(f"{name}: {field} {term!r} is not in {low}-{high}")
