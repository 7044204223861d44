"""The client address of rate limits and sessions: the peer, unless a trusted proxy forwarded the request."""

from __future__ import annotations

import pytest

from app.infrastructure.setting_values import trusted_proxies
from app.interfaces.client_address import client_host

PROXY = "10.0.0.5"
CLIENT = "203.0.113.9"


@pytest.mark.parametrize("forwarded", [[], [CLIENT], ["198.51.100.1, " + CLIENT], ["garbage"], ["::1"]])
def test_with_no_trusted_proxy_the_client_is_the_peer_whatever_it_forwards(forwarded: list[str]) -> None:
    assert client_host("127.0.0.1", forwarded, trusted_proxies("")) == "127.0.0.1"


@pytest.mark.parametrize("setting", ["10.0.0.5", "10.0.0.0/8", "192.0.2.1, 10.0.0.0/24"])
def test_a_trusted_proxy_gives_the_address_it_received_the_request_from(setting: str) -> None:
    trusted = trusted_proxies(setting)

    assert client_host(PROXY, [CLIENT], trusted) == CLIENT
    assert client_host(PROXY, [f"198.51.100.1, {CLIENT}"], trusted) == CLIENT  # the left one is the client's claim
    assert client_host(PROXY, ["198.51.100.1", CLIENT], trusted) == CLIENT  # several header lines, in order
    assert client_host(PROXY, [], trusted) == PROXY


def test_trusting_every_peer_believes_the_whole_chain() -> None:
    """``*``: every hop is a trusted proxy, so the client is the leftmost entry."""
    assert client_host("192.0.2.1", [f"198.51.100.1, {CLIENT}"], trusted_proxies("*")) == "198.51.100.1"


def test_a_peer_outside_the_trusted_networks_is_the_client() -> None:
    assert client_host("10.0.1.5", [CLIENT], trusted_proxies("10.0.0.0/24")) == "10.0.1.5"


def test_a_chain_of_trusted_proxies_is_walked_to_the_first_untrusted_address() -> None:
    trusted = trusted_proxies("10.0.0.0/8")

    assert client_host(PROXY, [f"198.51.100.1, {CLIENT}, 10.0.0.7, 10.0.0.6"], trusted) == CLIENT
    assert client_host(PROXY, ["10.0.0.8, 10.0.0.7"], trusted) == "10.0.0.8"  # every hop a proxy: the first


@pytest.mark.parametrize(
    ("entry", "client"),
    [
        ("203.0.113.9:4711", CLIENT),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("2001:DB8:0::1", "2001:db8::1"),
        (" 203.0.113.9 ", CLIENT),
    ],
)
def test_forwarded_entries_are_read_as_addresses(entry: str, client: str) -> None:
    assert client_host(PROXY, [entry], trusted_proxies(PROXY)) == client


@pytest.mark.parametrize(
    "entry", ["unknown", "", "x" * 300, "203.0.113.999", "[::1", "a:b:c", "[::1]x", "fe80::1%" + "e" * 100]
)
def test_an_entry_that_is_no_address_leaves_the_proxy_that_passed_it_on(entry: str) -> None:
    """Never an identity no proxy saw, and never longer than an address."""
    assert client_host(PROXY, [f"198.51.100.1, {entry}"], trusted_proxies("10.0.0.0/8")) == PROXY
    assert client_host(PROXY, [f"{entry}, 10.0.0.6"], trusted_proxies("10.0.0.0/8")) == "10.0.0.6"


def test_an_ipv4_peer_on_a_dual_stack_socket_is_matched_as_ipv4() -> None:
    assert client_host("::ffff:10.0.0.5", [CLIENT], trusted_proxies("10.0.0.0/8")) == CLIENT
