"""Webhook URLs vetted at submit time by the egress policy: addresses in every spelling."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from asyncml.api.webhook_targets import webhook_target
from asyncml.errors import BadRequestError
from asyncml.schemas import JobCreate, WebhookUrl
from asyncml.settings import Settings

URL = TypeAdapter(WebhookUrl)

# Hosts that a resolver reads as loopback, however they are written.
LOOPBACK_SPELLINGS = [
    "http://127.0.0.1/hook",
    "http://2130706433/hook",  # decimal
    "http://017700000001/hook",  # octal
    "http://0x7f000001/hook",  # hex
    "http://0x7f.1/hook",  # hex, short
    "http://0177.0.0.1/hook",  # octal first part
    "http://127.1/hook",  # short
    "http://127.0.1/hook",
    "http://localhost/hook",
    "http://api.localhost./hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
]


def settings(allow: str = "") -> Settings:
    return Settings(
        broker_url=None, store_url=None, egress_allow=allow, webhook_secret="whsec_" + "A" * 32
    )


def target(url: str, allow: str = "") -> str:
    return webhook_target("webhook", URL.validate_python(url), ["completed"], "v1", settings(allow))


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS)
def test_loopback_in_any_spelling_is_refused(url: str) -> None:
    with pytest.raises(BadRequestError, match=r"^webhook: destination not allowed: .* loopback"):
        target(url)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://0/hook", "unspecified"),
        ("http://10.1.2.3/hook", "private"),
        ("http://167772161/hook", "private"),  # 10.0.0.1 as a number
        ("http://0xa9.0xfe.0xa9.0xfe/hook", "cloud metadata"),  # 169.254.169.254
        ("http://2852039166/hook", "cloud metadata"),
        ("http://0xc0a80001/hook", "private"),  # 192.168.0.1
    ],
)
def test_other_internal_addresses_are_refused(url: str, problem: str) -> None:
    with pytest.raises(BadRequestError, match=problem) as caught:
        target(url)
    assert "ASYNCML_EGRESS_ALLOW" in str(caught.value)


@pytest.mark.parametrize("url", LOOPBACK_SPELLINGS[:-2])
def test_the_allowlist_opens_the_address_it_resolves_to(url: str) -> None:
    assert target(url, allow="127.0.0.1,localhost,api.localhost").url.startswith("http")


def test_allowing_one_address_does_not_open_another() -> None:
    with pytest.raises(BadRequestError, match="private"):
        target("http://0x0a000002/hook", allow="10.0.0.1")
    assert target("http://167772161/hook", allow="10.0.0.1").url == "http://10.0.0.1/hook"


@pytest.mark.parametrize(
    "url", ["http://example.com/hook", "https://hooks.example.org:443/x?y=1", "http://8.8.8.8/"]
)
def test_public_hosts_and_names_pass_without_lookup(url: str) -> None:
    assert target(url).url == str(URL.validate_python(url))


def test_the_route_model_and_the_check_agree() -> None:
    """What JobCreate parses is what gets checked: the canonical address, not the text."""
    body = JobCreate.model_validate(
        {"task": "audio.length", "input": {}, "webhook": "http://0x7f.1:9/h"}
    )
    assert body.webhook is not None
    with pytest.raises(BadRequestError, match=r"127\.0\.0\.1 is a loopback address"):
        webhook_target("webhook", body.webhook, ["completed"], "v1", settings())


@pytest.mark.parametrize(
    ("url", "allow", "accepted"),
    [
        ("https://hooks.example.org:8443/x", "", False),
        ("http://8.8.8.8:25/x", "", False),
        ("https://hooks.example.org:8443/x", ":8443", True),
        ("https://hooks.example.org:8443/x", "hooks.example.org", True),
        # A network entry might cover the name's addresses: the workers decide.
        ("https://hooks.example.org:8443/x", "10.0.0.0/8", True),
        ("http://8.8.8.8:8080/x", ":8080", True),
    ],
)
def test_ports_other_than_the_schemes_own(url: str, allow: str, accepted: bool) -> None:
    if accepted:
        assert target(url, allow=allow).url == url
    else:
        with pytest.raises(BadRequestError, match="port"):
            target(url, allow=allow)
