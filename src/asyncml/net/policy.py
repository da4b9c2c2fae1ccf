"""Which destinations the egress client may reach.

Everything that is not globally routable is refused unless the policy's allowlist names the
host or covers the address: this is what keeps a job URL from reaching the metadata service,
the broker, or anything else on the worker's own network. Ports other than http's 80 and
https's 443 are refused too (an SMTP or Redis port on a public host is no audio file),
unless the destination is on the allowlist or the list names the port (``:8080``).
An entry with a port (``127.0.0.1:8765``, ``files.local:8080``, ``[::1]:9000``) opens that
destination on that port only: the way people write "the server I run here".
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


Destination = IPNetwork | str  # a network, or a host name (normalized)
ACCEPTED_FORMS = (
    "a host name (files.local), an IP address (10.0.0.5, [::1]), a CIDR block (10.0.0.0/8), "
    "any of these with a port (127.0.0.1:8765, files.local:8080, [::1]:8765), or a port "
    "alone (:8080)"
)


def _destination(text: str) -> Destination | None:
    """A host name, an address or a network; None when ``text`` is none of them."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        pass
    if "/" not in text and ":" not in text and _HOST_NAME.match(text):
        return text
    return None


def _port(text: str) -> int | None:
    if text.isascii() and text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    return None


def _parse_allow_entry(entry: str) -> Destination | int | tuple[Destination, int]:
    """One allowlist entry: a destination, a port (``:8080``), or both (``host:8080``)."""
    text = normalize_host(entry)
    if text.startswith(":") and (port := _port(text[1:])) is not None:
        return port
    if (whole := _destination(text)) is not None:
        return whole
    if not text.startswith(":"):
        # host:port, or [IPv6]:port: the port is after the last colon (a bare IPv6
        # address, which has colons of its own, was taken whole above).
        host, _, port_text = text.rpartition(":")
        port = _port(port_text)
        if host and not host.endswith(":") and port is not None:
            if host.startswith("[") != host.endswith("]"):
                host = ""  # an unbalanced bracket
            destination = _destination(host) if host else None
            if destination is not None:
                return destination, port
    raise ValueError(f"invalid egress allow entry {entry!r}: expected {ACCEPTED_FORMS}")


def _covers(destination: Destination, host: str, ips: list[IPAddress]) -> bool:
    if isinstance(destination, str):
        return normalize_host(host) == destination
    return any(ip in destination for ip in ips if ip.version == destination.version)


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
    # host:port entries: a destination opened on one port only.
    _scoped: tuple[tuple[Destination, int], ...] = field(init=False, repr=False, compare=False)

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
        networks = tuple(p for p in parsed if not isinstance(p, str | int | tuple))
        object.__setattr__(self, "_networks", networks)
        object.__setattr__(self, "_scoped", tuple(p for p in parsed if isinstance(p, tuple)))

    @classmethod
    def from_allow_string(cls, allow: str, **kw: Any) -> EgressPolicy:
        """Build a policy from ``"127.0.0.1, 10.0.0.0/8, files.local"`` (empty entries ignored)."""
        entries = tuple(entry.strip() for entry in allow.split(",") if entry.strip())
        return cls(allow=entries, **kw)

    def refusal(self, host: str, ip: IPAddress, port: int | None = None) -> str | None:
        """Why ``host`` at ``ip`` is refused, or None when it may be reached (on ``port``:
        entries with a port open their destination on that port only)."""
        if self.allows(host, ip, port):
            return None
        return address_problem(ip)

    def allows(self, host: str, ip: IPAddress, port: int | None = None) -> bool:
        """Whether the allowlist names ``host`` or covers ``ip`` (with ``port``, also
        through an entry for that port)."""
        if normalize_host(host) in self._hosts:
            return True
        candidates: list[IPAddress] = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            candidates.append(ip.ipv4_mapped)
        if any(_covers(net, host, candidates) for net in self._networks):
            return True
        return port is not None and any(
            _covers(destination, host, candidates)
            for destination, scoped_port in self._scoped
            if scoped_port == port
        )

    def allows_port(self, port: int) -> bool:
        """Whether the allowlist opens ``port`` for every destination (``:PORT``)."""
        return port in self._ports

    def may_open_port(self, host: str, port: int) -> bool:
        """Before any lookup: whether ``host`` might be fetched on ``port`` (not the scheme's
        own). False only when certain: no ``:PORT`` entry, the host not named, and no
        network entry that its addresses could fall in."""
        if self.allows_port(port) or normalize_host(host) in self._hosts or self._networks:
            return True
        return any(
            scoped_port == port and (not isinstance(d, str) or d == normalize_host(host))
            for d, scoped_port in self._scoped
        )
