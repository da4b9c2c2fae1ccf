"""The one egress client: SSRF-safe, byte-capped, deadline-bound outbound HTTP.

import io

from asyncml.net import Egress, EgressPolicy

with Egress(EgressPolicy(allow=("127.0.0.1",))) as egress:
    page = egress.fetch("http://127.0.0.1:8000/results.html", max_bytes=2_000_000)
    with egress.open("http://127.0.0.1:8000/clip.ogg") as f:
        f.seek(-65536, io.SEEK_END)
        tail = f.read()

Owns every outbound fetch (input URLs, webhooks): policy, resolution, pinned
connections, byte caps, deadlines. Must not import any server code (api, worker, store)
or Celery/kombu; the readers reach the client through the small ``Hops`` protocol.
"""

from asyncml.net.client import Egress
from asyncml.net.policy import EgressPolicy
from asyncml.net.remote import RemoteFile
from asyncml.net.target import Resolver

__all__ = ["Egress", "EgressPolicy", "RemoteFile", "Resolver"]
