"""The web_visit URL guard, tested on its decision: a resolver is injected, nothing connects."""

from __future__ import annotations

import ipaddress

import pytest

from r1v4.tools.search.urlguard import check_url, literal_address, parse_legacy_ipv4

# What the injected resolver answers; no real DNS, no packets.
FAKE_DNS = {
    "public.example": ["93.184.216.34"],
    "public6.example": ["2606:2800:220:1:248:1893:25c8:1946"],
    "internal.example": ["10.1.2.3"],
    "mixed.example": ["93.184.216.34", "192.168.0.7"],  # one bad answer is enough to refuse
    "rebind.example": ["127.0.0.1"],
}


def fake_resolve(host: str) -> list[str]:
    if host not in FAKE_DNS:
        raise OSError(f"unknown host {host}")
    return FAKE_DNS[host]


def resolver_must_not_be_called(host: str) -> list[str]:
    raise AssertionError(f"literal address {host} must be judged without DNS")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.0.0.1:8080/admin",
        "http://10.0.0.5/",
        "http://172.16.3.4/",
        "http://192.168.1.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/",  # CGNAT
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
        "http://[::ffff:a9fe:a9fe]/",  # mapped 169.254.169.254
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0x7f.1/",
        "http://localhost/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
def test_refuses_private_loopback_metadata_and_numeric_forms(url: str) -> None:
    decision = check_url(url, resolver_must_not_be_called)
    assert not decision.allowed, url
    assert decision.reason


@pytest.mark.parametrize(
    "url, why",
    [
        ("http://internal.example/", "private"),
        ("http://mixed.example/", "private"),
        ("http://rebind.example/x", "loopback"),
        ("http://nowhere.example/", "cannot resolve"),
        ("file:///etc/passwd", "only http and https"),
        ("ftp://public.example/", "only http and https"),
        ("gopher://public.example/", "only http and https"),
        ("http:///path-only", "no host"),
        ("http://public.example:99999/", "malformed"),
    ],
)
def test_refuses_names_resolving_to_bad_addresses_and_bad_schemes(url: str, why: str) -> None:
    decision = check_url(url, fake_resolve)
    assert not decision.allowed
    assert why in decision.reason


@pytest.mark.parametrize(
    "url", ["https://public.example/page", "http://public6.example/", "http://93.184.216.34/"]
)
def test_allows_public_addresses(url: str) -> None:
    decision = check_url(url, fake_resolve)
    assert decision.allowed, decision.reason


def test_allow_private_lifts_private_rule_but_never_metadata() -> None:
    assert check_url("http://127.0.0.1:5000/", fake_resolve, allow_private=True).allowed
    assert check_url("http://internal.example/", fake_resolve, allow_private=True).allowed
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/",
    ):
        decision = check_url(url, fake_resolve, allow_private=True)
        assert not decision.allowed and "metadata" in decision.reason, url


@pytest.mark.parametrize(
    "host, expected",
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("017700000001", "127.0.0.1"),
    ],
)
def test_legacy_numeric_hosts_parse_like_inet_aton(host: str, expected: str) -> None:
    assert parse_legacy_ipv4(host) == ipaddress.IPv4Address(expected)


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "256.1.1.1", "08.1.1.1", "0x"])
def test_names_and_invalid_numbers_are_not_addresses(host: str) -> None:
    # "0x" alone is 0.0.0.0 to inet_aton, which is still refused by the policy
    if host == "0x":
        assert literal_address(host) == ipaddress.IPv4Address("0.0.0.0")
    else:
        assert parse_legacy_ipv4(host) is None


def test_redirect_target_decision_uses_same_rules() -> None:
    """A redirect hop is judged as a fresh URL: a public page sending us to 10.x is refused."""
    from urllib.parse import urljoin

    first = "https://public.example/start"
    assert check_url(first, fake_resolve).allowed
    for location in (
        "http://10.0.0.1/",
        "http://[::1]:8080/",
        "//2130706433/x",
        "http://internal.example/",
    ):
        hop = urljoin(first, location)
        assert not check_url(hop, fake_resolve).allowed, hop
