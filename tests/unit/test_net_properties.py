"""Properties of the egress URL check, over generated URLs (Hypothesis, derandomized).

Any http(s) URL whose host is a non-public address, however it is spelled (dotted, one
decimal/hex/octal number, short ``a.b``/``a.b.c`` forms, a trailing dot, IPv4 inside IPv6
as mapped/compatible/6to4/NAT64, ``localhost`` in any case) is refused before any name
lookup or connection; public literals pass the check unchanged.
"""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asyncml.errors import DestinationNotAllowedError, DownloadError
from asyncml.net import Egress, EgressPolicy
from asyncml.net.target import check

SETTINGS = settings(max_examples=300, derandomize=True, database=None, deadline=None)

NON_PUBLIC_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
NON_PUBLIC_V6 = [
    "::/128",
    "::1/128",
    "fe80::/10",
    "fc00::/7",
    "fec0::/10",
    "ff00::/8",
    "2001:db8::/32",
    "100::/64",
    "3fff::/20",
]
PUBLIC_V4 = ["1.0.0.0/8", "8.8.0.0/16", "93.184.216.0/24", "151.101.0.0/16", "185.0.0.0/8"]
PUBLIC_V6 = ["2606:4700::/32", "2a00:1450::/32", "2001:4860::/32"]


def addresses_in(cidrs: list[str]) -> st.SearchStrategy[ipaddress.IPv4Address]:
    def pick(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy:
        first = int(net.network_address)
        return st.integers(first, first + net.num_addresses - 1).map(
            lambda n: ipaddress.ip_address(n) if net.version == 4 else ipaddress.IPv6Address(n)
        )

    return st.sampled_from([ipaddress.ip_network(c) for c in cidrs]).flatmap(pick)


def ipv4_spellings(ip: ipaddress.IPv4Address) -> st.SearchStrategy[str]:
    """Ways to write ``ip`` in a URL host that a resolver would read as that address."""
    n = int(ip)
    a, b, c, d = ip.packed
    return st.sampled_from(
        [
            str(ip),
            f"{ip}.",  # fully qualified
            str(n),  # one decimal number
            hex(n),  # one hex number
            hex(n).upper().replace("X", "x"),
            f"0{n:o}",  # one octal number
            f"{a}.{b}.{(c << 8) | d}",  # a.b.c
            f"{a}.{(b << 16) | (c << 8) | d}",  # a.b
            f"{hex(a)}.{hex(b)}.{hex(c)}.{hex(d)}",
            f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",  # octal parts (httpx refuses these outright)
        ]
    )


def ipv6_carrying(ip: ipaddress.IPv4Address) -> st.SearchStrategy[str]:
    """IPv6 addresses that lead to ``ip``: mapped, compatible, 6to4 and NAT64."""
    n = int(ip)
    return st.sampled_from(
        [
            f"::ffff:{ip}",
            str(ipaddress.IPv6Address((0xFFFF << 32) | n)),
            f"::{ip}",
            str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80))),
            str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1)),
            f"64:ff9b::{ip}",
            str(ipaddress.IPv6Address((0x64FF9B << 96) | n)).upper(),
        ]
    )


def localhost_names() -> st.SearchStrategy[str]:
    base = st.sampled_from(["localhost", "foo.localhost", "a.b.localhost"])
    cased = st.tuples(base, st.randoms(use_true_random=False)).map(
        lambda pair: "".join(ch.upper() if pair[1].random() < 0.5 else ch for ch in pair[0])
    )
    return st.tuples(cased, st.booleans()).map(lambda pair: pair[0] + ("." if pair[1] else ""))


# The two anycast services of 192.0.0.0/24 are globally reachable (IANA), so public.
ANYCAST = {ipaddress.IPv4Address("192.0.0.9"), ipaddress.IPv4Address("192.0.0.10")}
non_public_v4 = addresses_in(NON_PUBLIC_V4).filter(lambda ip: ip not in ANYCAST)
v4_hosts = non_public_v4.flatmap(ipv4_spellings)
v6_hosts = st.one_of(
    addresses_in(NON_PUBLIC_V6).map(str),
    addresses_in(NON_PUBLIC_V6).map(lambda ip: ip.exploded.upper()),
    non_public_v4.flatmap(ipv6_carrying),
).map(lambda host: f"[{host}]")
non_public_hosts = st.one_of(v4_hosts, v6_hosts, localhost_names())


def urls(hosts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    ports = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
    paths = st.sampled_from(["", "/", "/a.wav", "/x/y?token=1#frag"])
    return st.builds(
        lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
        st.sampled_from(["http", "https", "HTTP", "Https"]),
        hosts,
        ports,
        paths,
    )


class Untouchable:
    """A resolver and a transport that record being used; neither may be."""

    def __init__(self) -> None:
        self.lookups: list[str] = []
        self.requests: list[httpx.Request] = []

    def resolve(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return ["93.184.216.34"]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, content=b"RIFF")


@SETTINGS
@given(url=urls(non_public_hosts))
# Regressions: 192.0.0.0/24 and 3fff::/20 passed on Python 3.11; numbers and localhost were
# left to the resolver.
@example(url="http://192.0.0.172/")
@example(url="https://[3fff::1]/")
@example(url="http://2130706433/")
@example(url="http://0x7f.1/")
@example(url="http://LocalHost./a.wav")
def test_non_public_destinations_are_refused_without_lookup_or_connection(url: str) -> None:
    spy = Untouchable()
    egress = Egress(EgressPolicy(), resolver=spy.resolve, transport=httpx.MockTransport(spy.handle))
    with egress, pytest.raises((DestinationNotAllowedError, DownloadError)) as refused:
        egress.fetch(url)
    if not isinstance(refused.value, DestinationNotAllowedError):
        # Only a URL that is not even well formed may fail otherwise (octal parts).
        assert refused.value.message.startswith("invalid URL"), refused.value.message
    assert spy.lookups == [] and spy.requests == []


public_v4 = addresses_in(PUBLIC_V4)


@SETTINGS
@given(ip=public_v4, data=st.data())
def test_public_ipv4_literals_pass_in_every_spelling(
    ip: ipaddress.IPv4Address, data: st.DataObject
) -> None:
    host = data.draw(ipv4_spellings(ip))
    spy = Untouchable()
    url = data.draw(urls(st.just(host)))
    parts = host.rstrip(".").split(".")
    if len(parts) == 4 and any(len(p) > 1 and p[0] == "0" and p[1] != "x" for p in parts):
        # Dotted octal is ambiguous (WHATWG reads 010 as 8, others as 10): httpx refuses it.
        with pytest.raises(DownloadError, match="invalid URL"):
            check(url, EgressPolicy(), spy.resolve)
    elif not _default_port(url):
        # A public address, but a port other than the scheme's own: refused unless allowed.
        with pytest.raises(DestinationNotAllowedError, match="port"):
            check(url, EgressPolicy(), spy.resolve)
        port = httpx.URL(url).port
        assert check(url, EgressPolicy(allow=(f":{port}",)), spy.resolve).addresses == (str(ip),)
    else:
        assert check(url, EgressPolicy(), spy.resolve).addresses == (str(ip),)
    assert spy.lookups == []


def _default_port(url: str) -> bool:
    parsed = httpx.URL(url)
    return parsed.port is None or parsed.port == {"http": 80, "https": 443}[parsed.scheme]


@SETTINGS
@given(ip=addresses_in(PUBLIC_V6))
def test_public_ipv6_literals_pass(ip: ipaddress.IPv6Address) -> None:
    spy = Untouchable()
    target = check(f"https://[{ip}]/a.wav", EgressPolicy(), spy.resolve)
    assert [ipaddress.ip_address(a) for a in target.addresses] == [ip]
    assert spy.lookups == []
