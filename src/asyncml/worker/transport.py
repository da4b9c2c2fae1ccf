"""A cheaper kombu Redis transport for workers: one client object per channel, and the
unacknowledged-message bookkeeping in one script call instead of a transaction.

kombu's Redis channel builds a new ``redis.Redis`` object for every bookkeeping call
(``conn_or_acquire``): twice per message, once to record it as unacknowledged and once to
acknowledge it. The objects share the channel's connection pool, so nothing is gained by
building them anew, and redis-py's client constructor is costly (it copies its table of
response callbacks): about a tenth of a worker's CPU per job in our profile (see
docs/performance.md). A ``redis.Redis`` object is safe to share between threads
(each pipeline is a new object), so each channel keeps the one it built first, and builds
another only when its connection pool is replaced after a reconnect.

For every message kombu records it as unacknowledged (``ZADD`` of its tag to an index,
``HSET`` of the message) and, at the ack, removes it again, each time in a ``MULTI``
pipeline: redis-py's pipeline machinery costs several times the round trip in CPU. The
same two commands run as one small Lua script on a connection the channel holds
(``asyncml.store.direct``): atomic like the transaction, one reply to read. Channels with
a ``global_keyprefix`` (which this project does not set) keep kombu's own code, which
prefixes the keys.
"""

from __future__ import annotations

from time import time
from typing import Any

from kombu.transport import redis as kombu_redis
from kombu.transport.virtual import base as virtual
from kombu.utils.json import dumps as _untyped_dumps

from asyncml.store.direct import DirectScript

_ATTR = "_asyncml_client"
# KEYS: unacked index, unacked hash. ARGV: tag, score, message (append) or tag (ack).
_APPEND = (
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])"
)
_ACK = "redis.call('ZREM', KEYS[1], ARGV[1]) redis.call('HDEL', KEYS[2], ARGV[1])"
_SCRIPTS = "_asyncml_scripts"


def _run(channel: Any, source: str, keys: list[str], args: list[Any]) -> None:
    """One of the bookkeeping scripts, on a connection the channel holds (made anew with
    its client, after a reconnect)."""
    with channel.conn_or_acquire() as client:
        scripts = channel.__dict__.get(_SCRIPTS)
        if scripts is None or scripts[0] is not client:
            for old in scripts[1].values() if scripts else ():
                old.close()
            scripts = (client, {s: DirectScript(client, s) for s in (_APPEND, _ACK)})
            channel.__dict__[_SCRIPTS] = scripts
        scripts[1][source](keys, args)


dumps: Any = _untyped_dumps  # kombu's JSON, as kombu's own QoS writes the message


def _scripted(qos: Any) -> bool:
    return not getattr(qos.channel, "global_keyprefix", "")


def install() -> None:
    """Patch kombu's Redis channel in this process (idempotent)."""
    channel: Any = kombu_redis.Channel
    if getattr(channel, "_asyncml_patched", False):
        return
    original: Any = channel._create_client

    def _create_client(self: Any, asynchronous: bool = False) -> Any:
        if asynchronous:
            return original(self, asynchronous=True)
        client = self.__dict__.get(_ATTR)
        if client is None or client.connection_pool is not self.pool:
            client = original(self)
            self.__dict__[_ATTR] = client
        return client

    channel._create_client = _create_client

    qos: Any = kombu_redis.QoS
    original_append, original_ack = qos.append, qos.ack

    def append(self: Any, message: Any, delivery_tag: str) -> None:
        if not _scripted(self):
            original_append(self, message, delivery_tag)
            return
        delivery = message.delivery_info
        raw = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])
        keys = [self.unacked_index_key, self.unacked_key]
        _run(self.channel, _APPEND, keys, [delivery_tag, time(), raw])
        virtual.QoS.append(self, message, delivery_tag)  # type: ignore[no-untyped-call]

    def ack(self: Any, delivery_tag: str) -> None:
        if not _scripted(self):
            original_ack(self, delivery_tag)
            return
        _run(self.channel, _ACK, [self.unacked_index_key, self.unacked_key], [delivery_tag])
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]

    qos.append, qos.ack = append, ack
    channel._asyncml_patched = True


def restore_at_head(channel: Any, delivery_tag: str) -> None:
    """Put an unacknowledged message of ``channel`` back where it was taken from: the head
    of its queue (kombu's own reject puts it at the tail, behind every waiting message)."""
    channel.qos.restore_by_tag(delivery_tag, leftmost=False)
    virtual.QoS.ack(channel.qos, delivery_tag)  # type: ignore[no-untyped-call]  # local only
