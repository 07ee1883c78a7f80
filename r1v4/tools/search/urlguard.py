"""Decide whether `web_visit` may fetch a URL, before any packet leaves the machine.

The model chooses the URLs, and a model (or a page it read) can ask for
`http://169.254.169.254/latest/meta-data/` or `http://127.0.0.1:8000/admin`. The decision is a
pure function of the URL, a resolver and the policy flag, so it can be tested on its own with an
injected resolver. The fetcher runs it on every hop (redirects included), requests exactly the
`yarl.URL` the decision returns, and checks every address again at connect time
(`address_refusal`, from the connector's resolver and socket factory), so the address that was
checked is the address that is dialled.

Policy:
- only http and https;
- the host judged is the one the HTTP client will dial (`yarl.URL(url).raw_host`); a host
  that changes under normalisation is refused (a Unicode name whose IDNA 2003 and UTS-46 forms
  differ, or one that folds into a plain ASCII name or an IP address, e.g. fullwidth or
  segmented digits that become `127.0.0.1`);
- every address a host resolves to must be globally routable: `ipaddress.is_global` and not
  in any block the IANA special-purpose registries mark not globally reachable
  (`NON_GLOBAL_V4`, `NON_GLOBAL_V6`), and for IPv6 inside 2000::/3, the global unicast space;
- IPv6 forms that carry an IPv4 address (mapped, NAT64, 6to4, Teredo, the deprecated
  IPv4-compatible `::a.b.c.d`) are judged by the IPv4 they carry; IPv4-compatible and Teredo
  addresses are refused whatever they carry;
- legacy numeric host forms (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) are parsed as
  the IPv4 address every libc would connect to, never passed on as a "name";
- `allow_private=True` lifts the globally-routable rule (for a self-hosted corpus server) but
  cloud metadata endpoints stay refused whatever the flag says.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import yarl

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]

# Cloud instance-metadata services: never reachable, even with allow_private.
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
    }
)
METADATA_HOSTNAMES = frozenset({"metadata.google.internal", "metadata", "instance-data"})

#: IPv4 blocks that are not globally reachable (IANA IPv4 special-purpose registry), named so
#: a refusal says what the address is. The whole of 192.0.0.0/24 is refused, including its two
#: anycast addresses, rather than trusting each Python version's idea of `is_global`.
NON_GLOBAL_V4 = tuple(
    (ipaddress.IPv4Network(net), name)
    for net, name in (
        ("0.0.0.0/8", "a 'this network' address"),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "an IETF protocol assignment, not a public address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a deprecated 6to4 relay address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("240.0.0.0/4", "a reserved address"),
    )
)

#: IPv6 blocks refused inside 2000::/3 (everything outside 2000::/3 is refused anyway).
NON_GLOBAL_V6 = tuple(
    (ipaddress.IPv6Network(net), name)
    for net, name in (
        ("2001::/23", "an IETF protocol assignment, not a public address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
    )
)
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")

_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


@dataclass(frozen=True)
class GuardDecision:
    """Outcome of `check_url`: allowed or not, why, the host judged, the addresses checked,
    and (when allowed) the exact URL object the client must request."""

    allowed: bool
    reason: str
    host: str = ""
    addresses: tuple[str, ...] = ()
    url: yarl.URL | None = None


def parse_legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse the inet_aton forms browsers and libc accept: 1-4 parts, decimal/octal/hex.

    `127.1` -> 127.0.0.1, `2130706433` -> 127.0.0.1, `0x7f.1` -> 127.0.0.1,
    `0177.0.0.1` -> 127.0.0.1. Returns None when `host` is not such a form (a real name).
    """
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None
    values: list[int] = []
    for p in parts:
        if p.lower().startswith("0x"):
            values.append(int(p[2:] or "0", 16))
        elif len(p) > 1 and p.startswith("0"):
            if not all(c in "01234567" for c in p):
                return None
            values.append(int(p, 8))
        else:
            values.append(int(p))
    # The last part fills all remaining bytes; earlier parts are one byte each.
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(number)


def literal_address(host: str) -> IPAddress | None:
    """The IP a host string denotes by itself (no DNS), or None if it is a name."""
    h = host.strip("[]")
    if "%" in h:  # IPv6 zone id: fe80::1%eth0 (or %25eth0 as it appears in a URL)
        h = h.split("%", 1)[0]
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        return parse_legacy_ipv4(h)


def embedded_ipv4(addr: IPAddress) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """(form, IPv4 addresses) an IPv6 address carries, if it is one of the forms that do."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return None
    low32 = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.ipv4_mapped is not None:
        return "IPv4-mapped", [addr.ipv4_mapped]
    if addr.teredo is not None:
        server, client = addr.teredo
        return "Teredo", [server, client]
    if addr.sixtofour is not None:
        return "6to4", [addr.sixtofour]
    if addr in NAT64:
        return "NAT64", [low32]
    if addr in IPV4_COMPATIBLE and int(addr) > 1:  # not :: or ::1
        return "IPv4-compatible", [low32]
    return None


def _non_global(addr: IPAddress) -> str | None:
    """Why an address (no embedded form) is not globally routable, or None when it is."""
    if isinstance(addr, ipaddress.IPv4Address):
        for net, name in NON_GLOBAL_V4:
            if addr in net:
                return f"{addr} is {name}"
    else:
        if addr.is_loopback:
            return f"{addr} is a loopback address"
        if addr.is_unspecified:
            return f"{addr} is the unspecified address"
        if addr.is_multicast:
            return f"{addr} is a multicast address"
        if addr.is_link_local:
            return f"{addr} is a link-local address"
        if addr.is_site_local:
            return f"{addr} is a (deprecated) site-local address"
        if addr in ipaddress.IPv6Network("fc00::/7"):
            return f"{addr} is a private (unique local) address"
        if addr in NAT64_LOCAL:
            return f"{addr} is a local-use NAT64 address"
        if addr not in GLOBAL_UNICAST_V6:
            return f"{addr} is not a global unicast address"
        for net, name in NON_GLOBAL_V6:
            if addr in net:
                return f"{addr} is {name}"
    if not addr.is_global:
        return f"{addr} is not a public address"
    return None


def address_refusal(addr: IPAddress, allow_private: bool) -> str | None:
    """Why `addr` may not be dialled, or None when it may."""
    embedded = embedded_ipv4(addr)
    if embedded is not None:
        form, inner = embedded
        for v4 in inner:
            why = address_refusal(v4, allow_private)
            if why:
                return f"{why} (inside the {form} address {addr})"
    if addr in METADATA_ADDRESSES:
        return f"{addr} is a cloud metadata address"
    if allow_private:
        return None
    if embedded is not None:
        form, _ = embedded
        if form in ("Teredo", "IPv4-compatible"):
            return f"{addr} is a {form} address; such tunnels are never visited"
        return None  # mapped, NAT64 and 6to4 reach the public IPv4 they carry
    return _non_global(addr)


def _normalisation_problem(url: str, dial_host: str) -> str | None:
    """Why the host as typed and the host the client dials are not plainly the same name."""
    try:
        typed = urlsplit(url).hostname or ""
    except ValueError as exc:
        return f"malformed URL: {exc}"
    typed_ip, dial_ip = literal_address(typed), literal_address(dial_host)
    if dial_ip is not None or typed_ip is not None:
        if typed.isascii() and typed_ip == dial_ip:
            return None
        return f"host {typed!r} changes under normalisation (it would dial {dial_host!r})"
    if typed.isascii():
        if typed.lower() == dial_host.lower():
            return None
        return f"host {typed!r} changes under normalisation (it would dial {dial_host!r})"
    try:
        idna2003 = typed.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        return f"host {typed!r} is not a valid international name: {exc}"
    if idna2003 != dial_host.lower():
        return (
            f"host {typed!r} is read differently by IDNA 2003 ({idna2003!r}) and by the HTTP "
            f"client ({dial_host!r})"
        )
    if not any(label.startswith("xn--") for label in dial_host.lower().split(".")):
        return f"host {typed!r} folds into the plain name {dial_host!r}; write {dial_host!r} itself"
    return None


def check_url(url: str, resolve: Resolver, *, allow_private: bool = False) -> GuardDecision:
    """Decide whether `url` may be fetched. `resolve(host)` returns the host's IP strings.

    Pure apart from calling `resolve`; never connects anywhere. When allowed, `decision.url`
    is the URL object to request, so nothing re-parses the string after the check.
    """
    text = url.strip()
    try:
        parsed = yarl.URL(text)
        _ = parsed.port  # raises ValueError on a bad port
    except (ValueError, TypeError) as exc:
        return GuardDecision(False, f"malformed URL: {exc}")
    scheme = (parsed.scheme or "").lower()
    if scheme not in ("http", "https"):
        return GuardDecision(False, f"only http and https URLs can be visited, not {scheme!r}")
    host = parsed.raw_host or ""
    if not host:
        return GuardDecision(False, "URL has no host")
    problem = _normalisation_problem(text, host)
    if problem:
        return GuardDecision(False, problem, host)
    name = host.rstrip(".").lower()
    if name in METADATA_HOSTNAMES:
        return GuardDecision(False, f"{host} is a cloud metadata host", host)
    if not allow_private and (name == "localhost" or name.endswith(".localhost")):
        return GuardDecision(False, f"{host} is a loopback name", host)

    literal = literal_address(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = resolve(host)
        except (OSError, UnicodeError) as exc:
            return GuardDecision(False, f"cannot resolve host {host!r}: {exc}", host)
        if not addresses:
            return GuardDecision(False, f"host {host!r} has no address", host)

    for addr_text in addresses:
        try:
            addr = ipaddress.ip_address(addr_text.split("%", 1)[0])
        except ValueError:
            return GuardDecision(False, f"resolver returned a non-address {addr_text!r}", host)
        why = address_refusal(addr, allow_private)
        if why:
            return GuardDecision(False, f"refused {host}: {why}", host, tuple(addresses))
    return GuardDecision(True, "ok", host, tuple(addresses), parsed)


def system_resolve(host: str) -> list[str]:
    """Every address getaddrinfo gives for `host` (blocking; run it in a thread)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({info[4][0] for info in infos})
