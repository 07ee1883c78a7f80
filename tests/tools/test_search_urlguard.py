"""The web_visit URL guard, tested on its decision: a resolver is injected, nothing connects."""

from __future__ import annotations

import ipaddress

import pytest
import yarl
from hypothesis import given
from hypothesis import strategies as st

from r1v4.tools.search.urlguard import (
    address_refusal,
    check_url,
    literal_address,
    parse_legacy_ipv4,
)

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


# ---- only globally routable addresses ---------------------------------------------------
@pytest.mark.parametrize(
    "address",
    [
        "fec0::1",  # deprecated site-local: Python calls it global
        "::127.0.0.1",  # IPv4-compatible loopback
        "::8.8.8.8",  # IPv4-compatible: refused whatever it carries
        "192.0.0.8",  # IETF protocol assignment outside 192.0.0.0/29
        "192.0.0.170",
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
        "198.51.100.7",
        "203.0.113.9",
        "192.88.99.1",  # deprecated 6to4 relay anycast
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "0.1.2.3",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "100::1",  # discard-only
        "2001::1",  # Teredo
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, server 65.54.227.120
        "2001:2::1",  # benchmarking
        "2001:db8::1",  # documentation
        "3fff::1",  # documentation (RFC 9637)
        "5f00::1",  # SRv6 SIDs
        "64:ff9b:1::1",  # local-use NAT64
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::c0a8:101",  # NAT64 of 192.168.1.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "2002:c0a8:101::1",  # 6to4 of 192.168.1.1
        "::ffff:0:7f00:1",  # IPv4-translated (SIIT) 127.0.0.1
        "::ffff:192.0.0.8",
        "4000::1",  # outside 2000::/3: unallocated
    ],
)
def test_refuses_every_address_that_is_not_globally_routable(address: str) -> None:
    addr = ipaddress.ip_address(address)
    assert address_refusal(addr, allow_private=False), address
    host = f"[{address}]" if ":" in address else address
    assert not check_url(f"http://{host}/", resolver_must_not_be_called).allowed
    answering = {"sneaky.example": [address]}  # the same address behind a name
    assert not check_url("http://sneaky.example/", answering.__getitem__).allowed


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "2606:2800:220:1:248:1893:25c8:1946",
        "::ffff:93.184.216.34",  # mapped public
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
        "192.0.1.1",  # next to the refused 192.0.0.0/24
    ],
)
def test_allows_globally_routable_addresses(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_private=False) is None


def test_reasons_name_the_embedded_address() -> None:
    why = address_refusal(ipaddress.ip_address("2002:c0a8:101::1"), allow_private=False)
    assert "192.168.1.1 is a private address" in why and "6to4" in why
    why = address_refusal(ipaddress.ip_address("::127.0.0.1"), allow_private=False)
    assert "127.0.0.1 is a loopback address" in why and "IPv4-compatible" in why
    assert "site-local" in address_refusal(ipaddress.ip_address("fec0::1"), allow_private=False)


# ---- the host judged is the host the client dials ---------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://\U0001fbf1\U0001fbf2\U0001fbf7.0.0.1/",  # segmented digits -> 127.0.0.1
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # fullwidth digits
        "http://\U0001fbf1\U0001fbf2\U0001fbf7.0.0.1:8080/admin",
        "http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54/",  # fullwidth localhost
        "http://127.0.0.1\u3002/",  # ideographic full stop
        "http://\u2460\u2461\u2466.0.0.1/",  # circled digits
        "http://stra\u00dfe.example/",  # IDNA 2003: strasse; UTS-46 (yarl): xn--strae-oqa
        "http://public\uff0eexample/",  # fullwidth dot: folds into a plain name
        "http://pub\u200blic.example/",  # zero-width space
    ],
)
def test_hosts_that_change_under_normalisation_are_refused(url: str) -> None:
    decision = check_url(url, resolver_must_not_be_called)
    assert not decision.allowed, url
    assert (
        "normalis" in decision.reason
        or "folds into" in decision.reason
        or ("IDNA 2003" in decision.reason or "malformed" in decision.reason)
    ), decision.reason


def test_international_name_is_resolved_as_the_client_will_dial_it() -> None:
    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"]

    decision = check_url("https://b\u00fccher.example/seite", resolve)
    assert decision.allowed, decision.reason
    assert asked == ["xn--bcher-kva.example"]
    assert decision.url is not None and decision.url.raw_host == "xn--bcher-kva.example"


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/?#@[]:\\"),
        min_size=1,
        max_size=12,
    )
)
def test_any_allowed_host_is_exactly_the_dialled_host(label: str) -> None:
    """Whatever the model types, the resolver is asked about (and the decision returns) the
    host yarl will dial, or the URL is refused."""
    url = f"http://{label}.example/x"
    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"]

    decision = check_url(url, resolve)
    if decision.allowed:
        dialled = yarl.URL(url).raw_host
        assert decision.url is not None and decision.url.raw_host == dialled
        assert decision.host == dialled and asked == [dialled]
        assert literal_address(dialled) is None
