"""The processes of each host: private Redis and RabbitMQ servers, the API, the workers.

Every server is our own (its own port, data and log directories under the run's
directory), started inside its host's namespace, so the machine's Redis and RabbitMQ are
never touched. A RabbitMQ node in a namespace has that namespace's own ``epmd`` and
loopback, so its Erlang node name cannot clash with the machine's node.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.cluster.load import API_KEY
from tests.cluster.netns import Host, Network

SKEW_DIR = Path(__file__).parent / "skew"
RABBIT_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
STORE_PORT = 6379
REDIS_BROKER_PORT = 6380
AMQP_PORT = 5672
API_PORT = 5000
HOOK_PORT = 8900

# Short windows, so that a scenario outlasts them within seconds rather than minutes: the
# broker's heartbeat (RabbitMQ closes a silent connection after about two of them), the
# Redis broker's visibility timeout, the lease, and the task limits below both.
HEARTBEAT_S = 5
TIMING = {
    "ASYNCML_TASK_SOFT_TIME_LIMIT_S": "8",
    "ASYNCML_TASK_TIME_LIMIT_S": "10",
    "ASYNCML_VISIBILITY_TIMEOUT_S": "12",
    "ASYNCML_LEASE_S": "6",
    "ASYNCML_REQUEUE_AFTER_S": "30",
    "ASYNCML_WEBHOOK_RETRY_SCHEDULE_S": "0,2,4,8,16",
}
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"asyncml-cluster-test-secret-0123").decode()
WEBHOOK_ATTEMPTS = 5  # the schedule's length: the documented most deliveries of one event


def wait_port(ip: str, port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with socket.create_connection((ip, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {ip}:{port} after {timeout}s")


class Cluster:
    """The processes of a run, started on their hosts; the driver runs on host ``client``."""

    def __init__(self, net: Network, root: Path, broker: str) -> None:
        self.net = net
        self.root = root
        self.broker = broker
        self.procs: dict[str, list[subprocess.Popen[bytes]]] = {}
        self.executions = root / "executions.log"
        self.notes: dict[str, object] = {}  # what a scenario wants in its figures
        root.mkdir(parents=True, exist_ok=True)

    def spawn(self, host: Host, label: str, argv: list[str], env: dict[str, str] | None = None):
        log = open(self.root / f"{host.name}-{label}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            [*host.exec_prefix(), *argv],
            env=os.environ | (env or {}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.setdefault(host.name, []).append(proc)
        return proc

    # ---- servers ------------------------------------------------------------------------

    def start_redis(self, host: Host, port: int, label: str) -> None:
        data = self.root / label
        data.mkdir(exist_ok=True)
        proc = self.spawn(host, label, [
            "redis-server", "--bind", host.ip, "--port", str(port), "--dir", str(data),
            "--appendonly", "yes", "--save", "", "--protected-mode", "no",
        ])  # fmt: skip
        wait_port(host.ip, port, 20, proc)

    def start_rabbit(self, host: Host) -> None:
        base = self.root / "rabbit"
        base.mkdir(exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        # guest may log in from other hosts: the cluster is a private network.
        (base / "rabbitmq.conf").write_text(f"heartbeat = {HEARTBEAT_S}\nloopback_users = none\n")
        script = str(RABBIT_SCRIPT) if RABBIT_SCRIPT.exists() else shutil.which("rabbitmq-server")
        env = {
            "HOME": str(base),
            "RABBITMQ_NODENAME": "amlc@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": host.ip,
            "RABBITMQ_NODE_PORT": str(AMQP_PORT),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        }
        proc = self.spawn(host, "rabbitmq", [str(script)], env)
        wait_port(host.ip, AMQP_PORT, 60, proc)

    # ---- asyncml ------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        net = self.net
        broker = (
            f"amqp://guest:guest@{net['broker'].ip}:{AMQP_PORT}//"
            if self.broker == "rabbitmq"
            else f"redis://{net['broker'].ip}:{REDIS_BROKER_PORT}/0"
        )
        return TIMING | {
            "ASYNCML_BROKER_URL": broker,
            "ASYNCML_STORE_URL": f"redis://{net['store'].ip}:{STORE_PORT}/0",
            "ASYNCML_EGRESS_ALLOW": net["client"].ip,
            "ASYNCML_API_KEYS": f"cluster:{API_KEY}",
            "ASYNCML_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ASYNCML_DATA_DIR": str(self.root / "data"),
            "ASYNCML_LOG_LEVEL": "INFO",
            "ASYNCML_FIXTURE_EXECUTION_LOG": str(self.executions),
            "PYTHONUNBUFFERED": "1",
        }

    def start_api(self) -> subprocess.Popen[bytes]:
        host = self.net["api"]
        env = self.env() | {"ASYNCML_HOST": "0.0.0.0", "ASYNCML_PORT": str(API_PORT)}
        proc = self.spawn(host, "api", [sys.executable, "-m", "asyncml", "api"], env)
        wait_port(host.ip, API_PORT, 60, proc)
        return proc

    def start_worker(self, name: str, *, skew_s: float = 0) -> subprocess.Popen[bytes]:
        """``asyncml worker`` on host ``name``; ``skew_s`` puts its processes' wall clock
        that far off (``tests/cluster/skew``; monotonic clocks stay true)."""
        env = self.env() | {"ASYNCML_FIXTURE_HOST": name}
        if skew_s:
            env |= {"PYTHONPATH": str(SKEW_DIR), "ASYNCML_CLUSTER_SKEW_S": str(skew_s)}
        argv = [sys.executable, "-m", "asyncml", "worker", "--queues", "fixture,webhooks",
                "--concurrency", "2", "--tasks", "tests.plugins.fixture_tasks"]  # fmt: skip
        return self.spawn(self.net[name], "worker", argv, env)

    def stop_host(self, name: str) -> None:
        """SIGTERM, then SIGKILL, every process this run started on ``name``."""
        procs = self.procs.pop(name, [])
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def forget(self, name: str) -> None:
        """The host's processes were killed from outside: reap them."""
        for proc in self.procs.pop(name, []):
            proc.wait()
