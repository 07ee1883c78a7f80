"""Decide whether `web_visit` may fetch a URL, before any packet leaves the machine.

The model chooses the URLs, and a model (or a page it read) can ask for
`http://169.254.169.254/latest/meta-data/` or `http://127.0.0.1:8000/admin`. The decision is a
pure function of the URL, a resolver and the policy flag, so it can be tested on its own with an
injected resolver, and the fetcher runs it on every hop (redirects included) and again inside
the connector's resolver so the address that was checked is the address that is dialled.

Policy:
- only http and https;
- every address a host resolves to must be public (`ipaddress.is_global`, not multicast);
  loopback, private, link-local, CGNAT, unspecified, reserved and multicast are refused;
- IPv4-mapped / NAT64 / 6to4 IPv6 forms are judged by the IPv4 address they carry;
- legacy numeric host forms (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`) are parsed as
  the IPv4 address every libc would connect to, never passed on as a "name";
- `allow_private=True` lifts the private/loopback rule (for a self-hosted corpus server) but
  cloud metadata endpoints stay refused whatever the flag says.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

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

_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class URLRefused(Exception):
    """The URL may not be fetched; the message says why in words the model can act on."""


@dataclass(frozen=True)
class GuardDecision:
    """Outcome of `check_url`: allowed or not, why, and the addresses that were checked."""

    allowed: bool
    reason: str
    host: str = ""
    addresses: tuple[str, ...] = ()


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
    if "%" in h:  # IPv6 zone id: fe80::1%eth0
        h = h.split("%", 1)[0]
    try:
        return ipaddress.ip_address(h)
    except ValueError:
        return parse_legacy_ipv4(h)


def _embedded_ipv4(addr: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), if any."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return None
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def address_refusal(addr: IPAddress, allow_private: bool) -> str | None:
    """Why `addr` may not be dialled, or None when it may."""
    inner = _embedded_ipv4(addr)
    if inner is not None:
        why = address_refusal(inner, allow_private)
        return f"{why} (embedded in {addr})" if why else None
    if addr in METADATA_ADDRESSES:
        return f"{addr} is a cloud metadata address"
    if allow_private:
        return None
    if addr.is_loopback:
        return f"{addr} is a loopback address"
    if addr.is_unspecified:
        return f"{addr} is the unspecified address"
    if addr.is_multicast:
        return f"{addr} is a multicast address"
    if addr.is_link_local:
        return f"{addr} is a link-local address"
    if isinstance(addr, ipaddress.IPv4Address) and addr in ipaddress.ip_network("100.64.0.0/10"):
        return f"{addr} is a carrier-grade NAT address"
    if addr.is_private:
        return f"{addr} is a private address"
    if not addr.is_global:
        return f"{addr} is not a public address"
    return None


def check_url(url: str, resolve: Resolver, *, allow_private: bool = False) -> GuardDecision:
    """Decide whether `url` may be fetched. `resolve(host)` returns the host's IP strings.

    Pure apart from calling `resolve`; never connects anywhere.
    """
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        return GuardDecision(False, f"malformed URL: {exc}")
    if parts.scheme.lower() not in ("http", "https"):
        return GuardDecision(
            False, f"only http and https URLs can be visited, not {parts.scheme!r}"
        )
    if not host:
        return GuardDecision(False, "URL has no host")
    if host.rstrip(".").lower() in METADATA_HOSTNAMES:
        return GuardDecision(False, f"{host} is a cloud metadata host", host)
    if not allow_private and (
        host.rstrip(".").lower() == "localhost" or host.endswith(".localhost")
    ):
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

    for text in addresses:
        try:
            addr = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return GuardDecision(False, f"resolver returned a non-address {text!r}", host)
        why = address_refusal(addr, allow_private)
        if why:
            return GuardDecision(False, f"refused {host}: {why}", host, tuple(addresses))
    return GuardDecision(True, "ok", host, tuple(addresses))


def system_resolve(host: str) -> list[str]:
    """Every address getaddrinfo gives for `host` (blocking; run it in a thread)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return sorted({info[4][0] for info in infos})
