"""Turn a URL into a checked destination: scheme, host, and addresses the policy accepts."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from asyncml.errors import DestinationNotAllowedError, DownloadError
from asyncml.net.policy import EgressPolicy

Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"^[a-z0-9_-]{1,63}(\.[a-z0-9_-]{1,63})*$")
# Only numbers (decimal, octal or hex) between the dots: an IPv4 address in a short form.
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
# Named in refusals so that whoever reads a job's error knows which setting opens the way.
ALLOWLIST = "the egress allowlist (ASYNCML_EGRESS_ALLOW)"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the order the system prefers."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def describe(url: httpx.URL) -> str:
    """The URL for messages: no query string or fragment, which often carry tokens."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}"


@dataclass(frozen=True)
class Target:
    """One request's destination after the checks: connect only to ``addresses``."""

    url: httpx.URL
    host: str
    addresses: tuple[str, ...]

    @property
    def label(self) -> str:
        return describe(self.url)


def parse_url(raw: str | httpx.URL) -> httpx.URL:
    """Validate the parts of a URL that need no DNS; returns it with a canonical host."""
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError) as exc:
        raise DownloadError(f"invalid URL: {exc}") from None
    if url.scheme not in DEFAULT_PORTS:
        shown = f" (got {url.scheme}:)" if url.scheme else ""
        raise DestinationNotAllowedError(f"only http and https URLs are supported{shown}")
    host = url.raw_host.decode("ascii").lower()
    if url.userinfo:
        raise DestinationNotAllowedError(
            f"URLs with credentials are not supported: remove the user:password@ part before {host}"
        )
    if not host:
        raise DownloadError("invalid URL: it has no host")
    if host.endswith("."):
        host = host.rstrip(".")
        url = url.copy_with(host=host)
    if "%" in host or (_literal_ip(host) is None and not _HOST_NAME.match(host)):
        raise DownloadError(f"invalid URL: {host!r} is not a valid host name")
    port = url.port
    if port is not None and not 0 < port < 65536:
        raise DownloadError(f"invalid URL: port {port} is out of range")
    return url


def check(raw: str | httpx.URL, policy: EgressPolicy, resolver: Resolver) -> Target:
    """Parse, resolve once and vet every address; raise unless all of them may be reached."""
    url = parse_url(raw)
    host = url.raw_host.decode("ascii")
    port = url.port or DEFAULT_PORTS[url.scheme]
    literal = _literal_ip(host) or _numeric_ipv4(host)
    if literal is not None:
        addresses = [str(literal)]
    else:
        if host == "localhost" or host.endswith(".localhost"):
            # Loopback by definition (RFC 6761): refused by name, before any lookup.
            problem = policy.refusal(host, _LOOPBACK, port)
            if problem is not None:
                raise _refused(host, port, "is", problem)
        try:
            addresses = resolver(host, port)
        except OSError as exc:
            reason = exc.strerror or str(exc) or "name lookup failed"
            raise DownloadError(f"could not connect to {host}: {reason}") from None
        if not addresses:
            raise DownloadError(f"could not connect to {host}: it has no addresses")
    ips = []
    for address in addresses:
        ip = _literal_ip(address.split("%", 1)[0])
        if ip is None:
            raise DownloadError(f"could not connect to {host}: bad address {address!r}")
        problem = policy.refusal(host, ip, port)
        if problem is not None:
            raise _refused(host, port, "is" if literal is not None else "resolves to", problem)
        ips.append(ip)
    default = DEFAULT_PORTS[url.scheme]
    open_port = port == default or policy.allows_port(port)
    if not open_port and not all(policy.allows(host, ip, port) for ip in ips):
        raise DestinationNotAllowedError(
            f"destination not allowed: port {port} of {host}; {url.scheme} is fetched from "
            f"port {default} only, unless {ALLOWLIST} names {_host_port(host, port)}, "
            f"the host or ':{port}'"
        )
    return Target(url=url, host=host, addresses=tuple(addresses))


def _refused(host: str, port: int, verb: str, problem: str) -> DestinationNotAllowedError:
    # The address itself stays out of the message: it would map internal DNS.
    article = "an" if problem[0] in "aeiou" else "a"
    return DestinationNotAllowedError(
        f"destination not allowed: {host} {verb} {article} {problem} address; "
        f"add {_host_port(host, port)} (or the host, or its network) to {ALLOWLIST} "
        "to fetch from it"
    )


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address of a host written as a number: ``2130706433``, ``0x7f.1``, ``127.1``.

    The system resolver reads these as IPv4 addresses (inet_aton), so they are judged as
    literals, before any lookup, rather than left to whatever a resolver makes of them.
    """
    if not _NUMERIC_HOST.match(host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        raise DownloadError(f"invalid URL: {host!r} is not a valid IPv4 address") from None


def _literal_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
