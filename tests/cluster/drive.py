"""One cluster run: servers and asyncml on their hosts, then each scenario under load.

Runs on the ``client`` host (``python -m tests.cluster run`` puts it there): the API, the
broker and the store are reached over the cluster's network only.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from tests.cluster import load as loads
from tests.cluster.netns import Network
from tests.cluster.scenarios import SCENARIOS, Scenario, shortened
from tests.cluster.services import (
    API_PORT,
    HOOK_PORT,
    REDIS_BROKER_PORT,
    STORE_PORT,
    WEBHOOK_ATTEMPTS,
    Cluster,
)

HOSTS = {"broker": 2, "store": 3, "api": 4, "w1": 11, "w2": 12, "client": 20}
LEAD_S = 4  # jobs flow this long before the fault
TAIL_S = 6  # and this long after the heal
SETTLE_S = 150  # every job must end within this after the load

log = logging.getLogger("cluster")


def start(cluster: Cluster) -> None:
    net = cluster.net
    if cluster.broker == "rabbitmq":
        cluster.start_rabbit(net["broker"])
    else:
        cluster.start_redis(net["broker"], REDIS_BROKER_PORT, "redis-broker")
    cluster.start_redis(net["store"], STORE_PORT, "store")
    cluster.start_worker("w1")
    cluster.start_worker("w2")
    cluster.start_api()


def wait_workers(api: str, seconds: float = 90) -> None:
    headers = {"Authorization": f"Bearer {loads.API_KEY}"}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            tasks = httpx.get(f"{api}/v1/tasks", headers=headers, timeout=5).json()
            if any(t["name"] == "fixture.tally" and t["workers"] >= 2 for t in tasks):
                return
        except (httpx.HTTPError, ValueError, TypeError):
            pass
        time.sleep(0.5)
    raise RuntimeError("the workers did not register fixture.tally")


def play(
    cluster: Cluster, scenario: Scenario, jobs: int, receiver: loads.Receiver
) -> dict[str, Any]:
    net = cluster.net
    api = f"http://{net['api'].ip}:{API_PORT}"
    store = redis.Redis(host=net["store"].ip, port=STORE_PORT, socket_timeout=5)
    tag = f"{cluster.broker}-{scenario.name}-{time.time_ns()}"
    seconds = LEAD_S + scenario.hold_s + TAIL_S
    load = loads.Load(api, receiver.url, tag, jobs, seconds)
    t0 = time.monotonic()
    threads = load.start()
    time.sleep(LEAD_S)
    log.info("%s: inject (%s)", scenario.name, scenario.what)
    scenario.inject(cluster)
    time.sleep(scenario.hold_s)
    scenario.heal(cluster)
    healed_at = time.monotonic()
    log.info("%s: healed after %.1fs", scenario.name, healed_at - t0 - LEAD_S)
    before_heal = list(load.accepted.values())
    _, heal_s = loads.settle(store, before_heal, SETTLE_S)
    load.finish(threads)
    ids = list(load.accepted.values())
    statuses, _ = loads.settle(store, ids, SETTLE_S)
    webhooks_s = loads.wait_webhooks(receiver, ids, 60)
    executions = loads.read_executions(cluster.executions)
    figures = loads.summary(
        load,
        statuses,
        loads.ends_recorded(store, ids),
        executions,
        receiver,
        WEBHOOK_ATTEMPTS,
    )
    api_proc = cluster.procs["api"][0]
    failed = [job_id for job_id, status in statuses.items() if status == "failed"]
    figures |= {
        "scenario": scenario.name,
        "broker": cluster.broker,
        "fault_s": scenario.hold_s,
        "heal_s": round(heal_s, 1),
        "webhooks_after_s": round(webhooks_s, 1),
        "failure_codes": dict(loads.errors_of(store, failed)),
        "api_restarted": api_proc.poll() is not None,
        "seconds": round(time.monotonic() - t0, 1),
    } | cluster.notes
    cluster.notes = {}
    store.close()
    log.info("%s: %s", scenario.name, json.dumps(figures))
    return figures


def drive(
    root: Path, broker: str, names: list[str], jobs: int, hold_s: float | None
) -> list[dict[str, Any]]:
    net = Network(HOSTS)
    cluster = Cluster(net, root / broker, broker)
    results = []
    receiver = loads.Receiver(net["client"].ip, HOOK_PORT)
    try:
        start(cluster)
        wait_workers(f"http://{net['api'].ip}:{API_PORT}")
        for name in names:
            scenario = SCENARIOS[name]
            if hold_s is not None:
                scenario = shortened(scenario, min(hold_s, scenario.hold_s))
            results.append(play(cluster, scenario, jobs, receiver))
    finally:
        receiver.stop()
        for host in list(cluster.procs):
            cluster.stop_host(host)
    return results
