"""API keys: parsing, digests, constant-time lookup, and the refusal to listen beyond
loopback without them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from asyncml.apikeys import KeyRing
from asyncml.cli import main
from asyncml.settings import Settings, is_loopback, parse_rate

A = "a" * 16
B = "b" * 20


def test_pairs_are_kept_as_digests_only() -> None:
    ring = KeyRing.parse(f" alice:{A} , bob:{B}\n")
    assert [name for name, _ in ring.digests] == ["alice", "bob"]
    assert all(A.encode() not in digest and len(digest) == 32 for _, digest in ring.digests)
    assert ring.owner(A) == "alice" and ring.owner(B) == "bob"
    assert ring.owner(A + "x") is None and ring.owner("") is None
    assert not KeyRing.parse("").enabled and ring.enabled


def test_a_key_file_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# team keys\nalice:{A}   # the billing team\n\nbob:{B}\n")
    assert KeyRing.parse(f"@{path}").owner(B) == "bob"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (A, "name:key"),
        (f"bad name:{A}", "name:key"),
        ("alice:short", "shorter than 16"),
        (f"alice:{A},alice:{B}", "appears twice"),
        (f"alice:{A},bob:{A}", "another name's key"),
        ("@/nonexistent/keys", "cannot read"),
        (f"public:{A}", "owner of every job when no keys are set"),
    ],
)
def test_bad_keys_are_refused_without_showing_them(spec: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(api_keys=spec)  # type: ignore[arg-type]
    shown = info.value.errors()[0]["msg"]  # what `asyncml api` prints
    assert "ASYNCML_API_KEYS" in shown and message in shown
    assert A not in shown and B not in shown


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)
    assert Settings(host=host).exposure_problem() is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "api.internal"])
def test_beyond_loopback_needs_keys_or_consent(host: str) -> None:
    problem = Settings(host=host).exposure_problem()
    assert problem and "ASYNCML_API_KEYS" in problem and "ASYNCML_INSECURE_NO_AUTH" in problem
    assert Settings(host=host, api_keys=f"ops:{A}").exposure_problem() is None  # type: ignore[arg-type]
    assert Settings(host=host, insecure_no_auth=True).exposure_problem() is None


def test_the_cli_refuses_before_starting_anything(tmp_path: Path) -> None:
    env = {"ASYNCML_API_KEYS": None, "ASYNCML_INSECURE_NO_AUTH": None, "ASYNCML_HOST": None}
    for command in (["api", "--host", "0.0.0.0"], ["up", "--host", "10.1.2.3"]):
        result = CliRunner().invoke(main, [*command, "--data-dir", str(tmp_path)], env=env)
        assert result.exit_code == 1, result.output
        assert "refusing to listen" in result.output and "--insecure" in result.output
    assert not list(tmp_path.iterdir())  # no embedded server was started


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", None),
        ("20/s", (20, 20.0)),
        ("600/m", (600, 10.0)),
        ("36/h", (36, 0.01)),
        ("10 / 5s", (10, 2.0)),
    ],
)
def test_rates(value: str, expected: tuple[int, float] | None) -> None:
    assert parse_rate(value) == expected


@pytest.mark.parametrize("value", ["20", "0/s", "20/d", "fast"])
def test_bad_rates(value: str) -> None:
    with pytest.raises(ValidationError, match="ASYNCML_RATE_LIMIT"):
        Settings(rate_limit=value)
