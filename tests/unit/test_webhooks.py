"""Webhook signing against the reference ``standardwebhooks`` package, the retry policy,
and the settings that drive them."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import random
import time

import pytest
import standardwebhooks.webhooks as reference
from pydantic import ValidationError
from standardwebhooks import Webhook

from asyncml.launcher import Launcher
from asyncml.plugins import discover
from asyncml.queue.names import all_queues
from asyncml.settings import Settings
from asyncml.webhooks import (
    WebhookVerificationError,
    generate_secret,
    owner_secret,
    parse_secrets,
    sign,
    signing_secrets,
    verify,
    webhook_id,
)
from asyncml.worker.delivery import judge, retry_after

BODY = b'{"type":"job.completed","data":{"id":"j1","status":"succeeded"}}'
SCHEDULE = (0.0, 5.0, 300.0, 1800.0)


def test_signature_matches_the_reference_package() -> None:
    secret = generate_secret()
    headers = sign(BODY, "msg_j1_completed", secret)
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "job.completed",
        "data": {"id": "j1", "status": "succeeded"},
    }
    # And the other way round: a delivery signed by the reference package verifies here.
    stamp = int(time.time())
    reference = Webhook(secret).sign("msg_x", _utc(stamp), BODY.decode())
    theirs = {
        "webhook-id": "msg_x",
        "webhook-timestamp": str(stamp),
        "webhook-signature": reference,
    }
    assert verify(BODY, theirs, secret)["data"]["id"] == "j1"
    assert sign(BODY, "msg_x", secret, timestamp=stamp)["webhook-signature"] == reference


def test_rotation_signs_with_every_secret() -> None:
    old, new = generate_secret(), generate_secret()
    headers = sign(BODY, "msg_j1_completed", [old, new])
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        assert verify(BODY, headers, secret)
    assert verify(BODY, headers, [generate_secret(), new])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"webhook-signature": None}, r"missing header\(s\): webhook-signature"),
        ({"webhook-timestamp": -600}, "old"),
        ({"webhook-timestamp": +600}, "future"),
        ({"webhook-timestamp": "soon"}, "Unix seconds"),
        ({"webhook-id": "msg_other"}, "no signature matches"),
    ],
)
def test_verify_refuses(change: dict[str, str | int | None], message: str) -> None:
    secret = generate_secret()
    headers = sign(BODY, "msg_j1_completed", secret)
    for name, value in change.items():
        if value is None:
            headers.pop(name)
        elif isinstance(value, int):  # seconds away from now, signed as sent then
            stamp = int(time.time()) + value
            headers = sign(BODY, "msg_j1_completed", secret, timestamp=stamp)
        else:
            headers[name] = value
    with pytest.raises(WebhookVerificationError, match=message):
        verify(BODY, headers, secret)


def test_verify_refuses_a_changed_body_or_another_secret() -> None:
    secret = generate_secret()
    headers = sign(BODY, "msg_j1_completed", secret)
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(BODY.replace(b"succeeded", b"failed"), headers, secret)
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(BODY, headers, generate_secret())
    # Header names are case-insensitive, as HTTP's are.
    assert verify(BODY, {k.title(): v for k, v in headers.items()}, secret)


def test_webhook_id_is_stable_per_event() -> None:
    assert webhook_id("j1", "completed") == webhook_id("j1", "completed") == "msg_j1_completed"
    assert webhook_id("j1", "started") != webhook_id("j1", "completed")


@pytest.mark.parametrize(
    "value",
    [
        "plain-text",
        "whsec_!!!!",
        "whsec_" + base64.b64encode(b"short").decode(),
        "whsec_" + base64.b64encode(b"x" * 65).decode(),
    ],
)
def test_bad_secrets(value: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        parse_secrets(value)
    with pytest.raises(ValidationError, match="ASYNCML_WEBHOOK_SECRET"):
        Settings(webhook_secret=value)  # type: ignore[arg-type]


def test_secrets_setting_accepts_a_rotation_list() -> None:
    a, b = generate_secret(), generate_secret()
    assert Settings(webhook_secret=f"{a}, {b}").webhook_secrets == (a, b)  # type: ignore[arg-type]
    assert Settings(webhook_secret=f"{a} {b}").webhook_secrets == (a, b)  # type: ignore[arg-type]
    assert Settings(webhook_secret="").webhook_secrets == ()  # type: ignore[arg-type]
    unpadded = a.rstrip("=")
    assert parse_secrets(unpadded) == (unpadded,)
    assert a not in repr(Settings(webhook_secret=a))  # type: ignore[arg-type]


def test_retry_schedule_setting() -> None:
    default = Settings().webhook_schedule
    assert default[:6] == (0, 5, 300, 1800, 7200, 18000)
    assert 2.5 * 86400 < sum(default) < 3.5 * 86400  # about three days
    assert Settings(webhook_retry_schedule_s="0 0.5, 2").webhook_schedule == (0, 0.5, 2)
    for bad in ("5,10", "0,abc", "0,-1", ""):
        with pytest.raises(ValidationError, match="ASYNCML_WEBHOOK_RETRY_SCHEDULE_S"):
            Settings(webhook_retry_schedule_s=bad)


def test_judge_follows_the_schedule_with_jitter() -> None:
    rng = random.Random(7)
    assert judge(200, {}, 0, SCHEDULE).outcome == "succeeded"
    assert judge(204, {}, 3, SCHEDULE).outcome == "succeeded"
    for status in (None, 302, 400, 500):
        verdict = judge(status, {}, 1, SCHEDULE, rng=rng)
        assert verdict.outcome == "retrying"
        assert verdict.next_s is not None and 300 <= verdict.next_s <= 330
    last = judge(500, {}, len(SCHEDULE) - 1, SCHEDULE)
    assert last.outcome == "failed" and last.note and "4 attempts" in last.note
    gone = judge(410, {}, 0, SCHEDULE)
    assert gone.outcome == "failed" and gone.next_s is None
    refused = judge(None, {}, 0, SCHEDULE, permanent=True)
    assert refused.outcome == "failed"


def test_judge_honours_retry_after() -> None:
    slow = judge(503, {"retry-after": "120"}, 0, SCHEDULE)
    assert slow.next_s is not None and slow.next_s >= 120
    # A shorter Retry-After than the schedule's next delay does not hurry the retry.
    quick = judge(429, {"retry-after": "1"}, 1, SCHEDULE)
    assert quick.next_s is not None and quick.next_s >= 300
    # Never more than a day, and only for 429/503.
    huge = judge(503, {"retry-after": "999999"}, 0, SCHEDULE)
    assert huge.next_s == 86400
    other = judge(500, {"retry-after": "120"}, 0, SCHEDULE)
    assert other.next_s is not None and other.next_s < 10
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    parsed = retry_after(later)
    assert parsed is not None and 55 <= parsed <= 61
    assert retry_after("garbage") is None and retry_after(None) is None


def test_webhooks_is_a_service_queue_that_up_starts() -> None:
    tasks = discover()
    queues = all_queues(tasks)
    assert "webhooks" in queues
    assert all(t.queue != "webhooks" for t in tasks)
    launcher = Launcher(Settings(), queues=queues, concurrency=1, server=None)
    workers = {child.name: child.argv for child in launcher.children}
    assert "worker:webhooks" in workers
    assert workers["worker:webhooks"][-4:-2] == ["--queues", "webhooks"]


def _utc(stamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC)


def test_each_owner_signs_with_its_own_secret_and_public_with_the_master() -> None:
    master, rotated = generate_secret(), generate_secret()
    alice = signing_secrets([master, rotated], "alice")
    assert alice == signing_secrets([master, rotated], "alice")  # workers agree, no lookup
    assert len(alice) == 2 and not {master, rotated} & set(alice)
    assert set(alice).isdisjoint(signing_secrets([master, rotated], "bob"))
    assert signing_secrets([master], "public") == (master,)
    body, msg_id = b'{"type": "job.completed"}', "msg_1_completed"
    headers = sign(body, msg_id, alice)
    Webhook(alice[1]).verify(body, headers)
    with pytest.raises(reference.WebhookVerificationError):
        Webhook(owner_secret(master, "bob")).verify(body, headers)
