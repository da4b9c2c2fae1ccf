"""The faults, each a pair of actions: ``inject`` while jobs flow, ``heal`` after ``hold_s``.

Windows they must outlast (see ``services.TIMING``): RabbitMQ's heartbeat (5 s; a silent
connection is closed after about two), the Redis broker's visibility timeout (12 s) and the
lease (6 s).
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from tests.cluster.services import Cluster

LOSS_PCT = 5.0


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    hold_s: float
    inject: Callable[[Cluster], None]
    heal: Callable[[Cluster], None]


def _lose_host(c: Cluster) -> None:
    # A host that vanishes sends nothing more: cut its link first, then kill everything on
    # it, so no FIN or RST tells the broker and the store that it is gone.
    c.net.isolate("w2")
    c.notes["processes_killed"] = c.net.signal_all("w2", signal.SIGKILL)
    c.forget("w2")


def _reboot_host(c: Cluster) -> None:
    c.net.rejoin("w2")
    c.start_worker("w2")


def _netem(c: Cluster) -> None:
    for host in ("w1", "api"):
        c.notes["latency_injected"] = c.net.netem(host, "80ms", "20ms", LOSS_PCT)


def _clear_netem(c: Cluster) -> None:
    for host in ("w1", "api"):
        c.net.clear_netem(host, LOSS_PCT)


def _skew(offset_s: float) -> Callable[[Cluster], None]:
    def restart(c: Cluster) -> None:
        c.stop_host("w1")
        c.start_worker("w1", skew_s=offset_s)

    return restart


def _unskew(c: Cluster) -> None:
    c.stop_host("w1")
    c.start_worker("w1")


def _stop(c: Cluster) -> None:
    c.notes["processes_stopped"] = c.net.signal_all("w1", signal.SIGSTOP)


def _cont(c: Cluster) -> None:
    c.net.signal_all("w1", signal.SIGCONT)


def _partition(a: str, b: str) -> tuple[Callable[[Cluster], None], Callable[[Cluster], None]]:
    return (lambda c: c.net.partition(a, b), lambda c: c.net.heal(a, b))


SCENARIOS = {
    s.name: s
    for s in [
        Scenario(
            "broker-partition",
            "worker host w1 cut from the broker (both ways) for 30 s, then healed",
            30,
            *_partition("w1", "broker"),
        ),
        Scenario(
            "store-partition-worker",
            "worker host w1 cut from the store only for 20 s",
            20,
            *_partition("w1", "store"),
        ),
        Scenario(
            "store-partition-all",
            "the store host cut from everyone (its link down) for 30 s",
            30,
            lambda c: c.net.isolate("store"),
            lambda c: c.net.rejoin("store"),
        ),
        Scenario(
            "host-loss",
            "worker host w2 vanishes (link down, every process SIGKILLed); back after 15 s",
            15,
            _lose_host,
            _reboot_host,
        ),
        Scenario(
            "sigstop",
            "every process of w1 SIGSTOPped for 25 s (past lease, heartbeat and visibility)",
            25,
            _stop,
            _cont,
        ),
        Scenario(
            "netem",
            "80 ms +-20 ms latency and 5% loss on w1 and the API host for 20 s (loss only "
            "where the kernel has no netem)",
            20,
            _netem,
            _clear_netem,
        ),
        Scenario(
            "clock-ahead",
            "w1 restarted with its wall clock 60 s ahead for 20 s",
            20,
            _skew(60),
            _unskew,
        ),
        Scenario(
            "clock-behind",
            "w1 restarted with its wall clock 60 s behind for 20 s",
            20,
            _skew(-60),
            _unskew,
        ),
    ]
}


def shortened(scenario: Scenario, hold_s: float) -> Scenario:
    return Scenario(scenario.name, scenario.what, hold_s, scenario.inject, scenario.heal)
