"""Which destinations the egress client may reach.

Everything that is not globally routable is refused unless the policy's allowlist names the
host or covers the address: this is what keeps a job URL from reaching the metadata service,
the broker, or anything else on the worker's own network. Ports other than http's 80 and
https's 443 are refused too (an SMTP or Redis port on a public host is no audio file),
unless the destination is on the allowlist or the list names the port (``:8080``).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_HOST_NAME = re.compile(r"^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$")
_METADATA = ipaddress.IPv4Address("169.254.169.254")
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known DNS64 prefix, RFC 6052
# Special-purpose blocks that the stdlib's is_global misses on older Pythons (3.11 knows
# only parts of 192.0.0.0/24; 3fff::/20 is the documentation prefix of RFC 9637, 2024).
_SPECIAL = (ipaddress.IPv4Network("192.0.0.0/24"), ipaddress.IPv6Network("3fff::/20"))
# ...of which these two are anycast services reachable from anywhere (IANA registry).
_SPECIAL_GLOBAL = (ipaddress.IPv4Address("192.0.0.9"), ipaddress.IPv4Address("192.0.0.10"))


def normalize_host(host: str) -> str:
    """Lower-case a host name and drop the trailing dot of a fully qualified name."""
    return host.strip().lower().rstrip(".")


def _parse_allow_entry(entry: str) -> IPNetwork | str | int:
    text = normalize_host(entry)
    if text.startswith(":") and text[1:].isascii() and text[1:].isdigit():
        port = int(text[1:])
        if 0 < port < 65536:
            return port
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    if "/" not in text and ":" not in text and _HOST_NAME.match(text):
        return text
    raise ValueError(
        f"invalid egress allow entry {entry!r}: expected a host name (files.local), "
        "an IP address (10.0.0.5), a CIDR block (10.0.0.0/8) or a port (:8080)"
    )


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be reached without an allow entry; None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address are judged by the address they lead to.
        if ip.ipv4_mapped is not None:
            return address_problem(ip.ipv4_mapped)
        if ip in _NAT64:
            return address_problem(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None and address_problem(ip.sixtofour) is not None:
            return address_problem(ip.sixtofour)
        if ip.is_site_local:
            return "site-local"
    if ip == _METADATA:
        return "cloud metadata"
    checks: tuple[tuple[bool, str], ...] = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED, "shared (CGNAT)"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (_special(ip), "reserved"),
        (not ip.is_global, "non-public"),
    )
    return next((label for failed, label in checks if failed), None)


def _special(ip: IPAddress) -> bool:
    inside = any(ip in net for net in _SPECIAL if net.version == ip.version)
    return inside and ip not in _SPECIAL_GLOBAL


@dataclass(frozen=True)
class EgressPolicy:
    """Limits for every outbound fetch; the allowlist opens private destinations on purpose."""

    allow: tuple[str, ...] = ()
    max_bytes: int = 512 * 1024 * 1024
    # At most this much of a body left unread is read and dropped so that the connection
    # can be reused (0: never, the default: a fetch stops reading once it has its answer);
    # see BodyReader.drain.
    drain_bytes: int = 0
    connect_timeout: float = 5.0
    total_timeout: float = 60.0
    max_redirects: int = 5
    user_agent: str = "asyncml/0.1"
    _hosts: frozenset[str] = field(init=False, repr=False, compare=False)
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _ports: frozenset[int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.allow, str):
            raise TypeError("allow must be a tuple of entries; use EgressPolicy.from_allow_string")
        parsed = [_parse_allow_entry(entry) for entry in self.allow]
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if self.drain_bytes < 0:
            raise ValueError("drain_bytes must not be negative")
        if self.connect_timeout <= 0 or self.total_timeout <= 0:
            raise ValueError("connect_timeout and total_timeout must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        # Frozen dataclass: the parsed allowlist is derived once, here.
        object.__setattr__(self, "_hosts", frozenset(p for p in parsed if isinstance(p, str)))
        object.__setattr__(self, "_ports", frozenset(p for p in parsed if isinstance(p, int)))
        networks = tuple(p for p in parsed if not isinstance(p, str | int))
        object.__setattr__(self, "_networks", networks)

    @classmethod
    def from_allow_string(cls, allow: str, **kw: Any) -> EgressPolicy:
        """Build a policy from ``"127.0.0.1, 10.0.0.0/8, files.local"`` (empty entries ignored)."""
        entries = tuple(entry.strip() for entry in allow.split(",") if entry.strip())
        return cls(allow=entries, **kw)

    def refusal(self, host: str, ip: IPAddress) -> str | None:
        """Why ``host`` at ``ip`` is refused, or None when it may be reached."""
        if self.allows(host, ip):
            return None
        return address_problem(ip)

    def allows(self, host: str, ip: IPAddress) -> bool:
        """Whether the allowlist names ``host`` or covers ``ip``."""
        if normalize_host(host) in self._hosts:
            return True
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        return any(
            candidate in net
            for candidate in candidates
            for net in self._networks
            if net.version == candidate.version
        )

    def allows_port(self, port: int) -> bool:
        """Whether the allowlist opens ``port`` for every destination (``:PORT``)."""
        return port in self._ports

    def may_open_port(self, host: str, port: int) -> bool:
        """Before any lookup: whether ``host`` might be fetched on ``port`` (not the scheme's
        own). False only when certain: no ``:PORT`` entry, the host not named, and no
        network entry that its addresses could fall in."""
        return self.allows_port(port) or normalize_host(host) in self._hosts or bool(self._networks)
