"""Hosts made of Linux network namespaces on one machine, and the faults of a network.

Each host is a namespace ``<prefix><name>`` with its own loopback and one ``eth0`` whose
peer is a port of a bridge living in a switch namespace ``<prefix>sw``: nothing is added to
the machine's own namespace (no address, route, bridge or firewall rule), so the machine's
services are untouched. Faults act inside the namespaces only:

- ``partition(a, b)``: iptables rules on both hosts drop what the other sends, where it
  arrives (silently, as a cut cable does: connections hang, nothing resets);
- ``isolate(a)`` / ``rejoin(a)``: the host's link down / up (cut from everyone);
- ``netem(a, ...)``: ``tc netem`` latency and loss on the host's ``eth0`` (loss alone,
  through iptables, where the kernel lacks ``sch_netem``).

``down()`` removes every namespace with the prefix after killing what runs in it, so it
also cleans up after a crashed run; it is idempotent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

SUBNET = "10.77.0"  # a /24 nothing on these machines uses
PREFIX = "amlc-"
SWITCH = "sw"
BRIDGE = "br0"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def namespaces(prefix: str = PREFIX) -> list[str]:
    listing = sh("ip", "netns", "list", check=False).stdout.split("\n")
    return [line.split()[0] for line in listing if line.startswith(prefix)]


def pids_in(namespace: str) -> list[int]:
    out = sh("ip", "netns", "pids", namespace, check=False).stdout
    return [int(pid) for pid in out.split()]


def down(prefix: str = PREFIX) -> list[str]:
    """Kill every process in the cluster's namespaces and delete them; what was removed."""
    found = namespaces(prefix)
    for namespace in found:
        for pid in pids_in(namespace):
            try:
                os.kill(pid, signal.SIGCONT)  # a stopped process would not die until then
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    while any(pids_in(n) for n in found) and time.monotonic() < deadline:
        time.sleep(0.1)
    for namespace in found:
        sh("ip", "netns", "del", namespace, check=False)
    return found


@dataclass(frozen=True)
class Host:
    name: str
    ip: str
    namespace: str

    def exec_prefix(self) -> list[str]:
        """Run a command on this host: ``[*host.exec_prefix(), "cmd", ...]``."""
        return ["ip", "netns", "exec", self.namespace]


class Network:
    """The cluster's hosts, by name, with their addresses: ``10.77.0.<n>``."""

    def __init__(self, hosts: dict[str, int], prefix: str = PREFIX) -> None:
        self.prefix = prefix
        self.hosts = {
            name: Host(name, f"{SUBNET}.{n}", f"{prefix}{name}") for name, n in hosts.items()
        }
        self._switch = f"{prefix}{SWITCH}"

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def up(self) -> None:
        down(self.prefix)
        sw = self._switch
        sh("ip", "netns", "add", sw)
        sh("ip", "-n", sw, "link", "add", BRIDGE, "type", "bridge")
        sh("ip", "-n", sw, "link", "set", BRIDGE, "up")
        for host in self.hosts.values():
            ns = host.namespace
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            # Both ends are created inside namespaces: the machine's own never sees them.
            sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name",
               f"p-{host.name}", "netns", sw)  # fmt: skip
            sh("ip", "-n", sw, "link", "set", f"p-{host.name}", "master", BRIDGE, "up")
            sh("ip", "-n", ns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")

    def down(self) -> None:
        down(self.prefix)

    # ---- faults -------------------------------------------------------------------------

    def _drop_from(self, at: Host, source: Host, verb: str, *match: str) -> None:
        # INPUT, not OUTPUT: a packet dropped on its way out fails the sender's call at
        # once (EPERM), where a real cut says nothing.
        rule = ["INPUT", "-s", f"{source.ip}/32", *match, "-j", "DROP"]
        sh(*at.exec_prefix(), "iptables", "-w", "-A" if verb == "add" else "-D", *rule,
           check=verb == "add")  # fmt: skip

    def partition(self, a: str, b: str) -> None:
        """Drop every packet between ``a`` and ``b`` where it arrives: the senders see no
        error, their connections hang, as in a real cut."""
        self._drop_from(self[a], self[b], "add")
        self._drop_from(self[b], self[a], "add")

    def heal(self, a: str, b: str) -> None:
        self._drop_from(self[a], self[b], "del")
        self._drop_from(self[b], self[a], "del")

    def isolate(self, name: str) -> None:
        sh("ip", "-n", self._switch, "link", "set", f"p-{name}", "down")

    def rejoin(self, name: str) -> None:
        sh("ip", "-n", self._switch, "link", "set", f"p-{name}", "up")

    def netem(self, name: str, delay: str, jitter: str, loss_pct: float) -> bool:
        """Latency and loss on host ``name``'s link with ``tc netem``; where the kernel has
        no ``sch_netem`` (some VMs), loss only, with iptables' ``statistic`` match on what
        the host receives and what every other host receives from it. True with latency."""
        spec = ["delay", delay, jitter, "loss", f"{loss_pct}%"]
        done = sh("tc", "-n", self[name].namespace, "qdisc", "replace", "dev", "eth0", "root",
                  "netem", *spec, check=False)  # fmt: skip
        if done.returncode == 0:
            return True
        self._random_loss(name, loss_pct, "add")
        return False

    def _random_loss(self, name: str, loss_pct: float, verb: str) -> None:
        match = ["-m", "statistic", "--mode", "random", "--probability", str(loss_pct / 100)]
        host = self[name]
        for other in self.hosts.values():
            if other is not host:
                self._drop_from(host, other, verb, *match)
                self._drop_from(other, host, verb, *match)

    def clear_netem(self, name: str, loss_pct: float) -> None:
        sh("tc", "-n", self[name].namespace, "qdisc", "del", "dev", "eth0", "root", check=False)
        self._random_loss(name, loss_pct, "del")

    def pids(self, name: str) -> list[int]:
        return pids_in(self[name].namespace)

    def signal_all(self, name: str, sig: signal.Signals) -> int:
        """Send ``sig`` to every process on the host; how many got it."""
        sent = 0
        for pid in self.pids(name):
            try:
                os.kill(pid, sig)
                sent += 1
            except ProcessLookupError:
                pass
        return sent
