"""The RabbitMQ broker killed and restarted under a running deployment (issue 6).

A private ``rabbitmq-server`` node (its own node name, ports and directories under the
test's temp dir) is the broker; the job store is the usual Redis. While the node is down
the API must answer 503 (never a 500, never a hang) to every submission (publisher
confirms: nothing is accepted that the broker has not written) and keep answering reads
from the store; once it is back, every job it accepted must complete, the jobs that were
running at the kill included. A node that does not start fails the test with its log;
only without ``rabbitmq-server`` installed, and not in CI, is it skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from asyncml.metrics.recording import METRICS_KEY
from tests.conftest import IN_CI, STORE_DB
from tests.integration.conftest import REDIS_URL, layout_env
from tests.integration.fileserver import FileServer
from tests.integration.stack import Stack, free_port, wait_for
from tests.integration.test_failures import FAST, TERMINAL, Record
from tests.integration.test_failures import record as record  # the fixture

pytestmark = pytest.mark.integration

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # the Debian package's real script
START_TIMEOUT_S = 30


class PrivateRabbit:
    """One RabbitMQ node of our own, restartable on the same port and data directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port, self.dist_port = free_port(), free_port()
        self.node = f"asyncml-test-{uuid.uuid4().hex[:8]}@localhost"
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)
        (root / "enabled_plugins").write_text("[].\n")  # no management listener to clash

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> bool:
        script = SERVER if SERVER.exists() else shutil.which("rabbitmq-server")
        if script is None:
            message = "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
            if IN_CI:
                pytest.fail(message + "; required when CI=true")
            pytest.skip(message)
        env = os.environ | {
            "HOME": str(self.root),  # its own Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_PID_FILE": str(self.root / "node.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
        }
        log = open(self.root / "server.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(script)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.2)
        self.kill()
        return False

    def log_tail(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def test_rabbitmq_restart_answers_503_and_loses_nothing(
    files: FileServer, tmp_path: Path, record: Record
) -> None:
    rabbit = PrivateRabbit(tmp_path / "rabbit")
    if not rabbit.start():
        pytest.fail(
            f"no private RabbitMQ node came up within {START_TIMEOUT_S}s:\n{rabbit.log_tail()}"
        )
    env = (
        layout_env("redis", files, tmp_path)  # a flushed Redis job store
        | FAST
        | {
            "ASYNCML_BROKER_URL": rabbit.url,
            # The API publishes with confirms; if a message were lost anyway (a send_task
            # without them, a node that loses its disk), the republisher sends it again.
            "ASYNCML_REQUEUE_AFTER_S": "2",
        }
    )
    stack = Stack("rabbit-restart", env, tmp_path)
    store = redis.Redis.from_url(f"{REDIS_URL}/{STORE_DB}")
    tag = uuid.uuid4().hex[:8]
    started = time.monotonic()

    def submit(i: int) -> httpx.Response:
        return stack.submit(
            "audio.length", {"url": f"{files.base_url}/slow/0.2/short.wav?rabbit={tag}-{i}"}
        )

    try:
        stack.start_worker(queues="audio,euro,webhooks")
        stack.start_api()
        accepted = stack.accept(submit, range(20))
        stack.wait_status(accepted[0], "started")
        running = [
            j for j in accepted if stack.client.get(f"/v1/jobs/{j}").json()["status"] == "started"
        ]
        rabbit.kill()
        # While it is down: submissions get a quick 503; reads are served from the store.
        # The API publishes with confirms: a node that is gone cannot confirm, so nothing
        # is accepted (202) during the outage (docs/reliability.md, "Broker and store loss").
        answers = stack.probe(submit, accepted)
        accepted_while_down = [a.job_id for a in answers if a.job_id is not None]
        ready_while_down = stack.client.get("/readyz")
        submits = [a.status for a in answers if a.kind == "submit"]
        assert submits == [503] * len(submits), answers
        assert {a.status for a in answers if a.kind != "submit"} <= {200, 202}, answers
        assert ready_while_down.status_code == 503
        accepted += accepted_while_down
        slowest = max(a.seconds for a in answers)
        assert slowest < 8, slowest
        if not rabbit.start():
            pytest.fail(f"the private RabbitMQ node did not come back:\n{rabbit.log_tail()}")
        wait_for(lambda: stack.client.get("/readyz").status_code == 200, 30, "readiness")
        for i in range(20, 30):
            response = submit(i)
            assert response.status_code == 202, response.text
            accepted.append(response.json()["id"])

        def ended(job_id: str) -> dict[str, Any] | None:
            job: dict[str, Any] = stack.client.get(f"/v1/jobs/{job_id}").json()
            return job if job["status"] in TERMINAL else None

        queued = [j for j in accepted if j not in running]
        done = [wait_for(lambda j=j: ended(j), 60, f"job {j}", every=0.2) for j in queued]
        # A job running when the node died: Celery terminates it (its message can no longer
        # be acknowledged). Its message comes back with the node if the node had written
        # it; if not, the republisher finds the job started with a lapsed lease (2 s) and
        # no message, and sends it again (ASYNCML_REQUEUE_AFTER_S=2, one pass every 0.5 s).
        done += [wait_for(lambda j=j: ended(j), 30, f"running job {j}", every=0.2) for j in running]
        figures = {
            "accepted": len(accepted),
            "accepted_while_down": len(accepted_while_down),
            "completed": sum(job["status"] == "succeeded" for job in done),
            "running_at_the_kill": len(running),
            "requests_while_down": len(answers),
            "answers_while_down": {
                f"{kind} {status}": sum((a.kind, a.status) == (kind, status) for a in answers)
                for kind, status in sorted({(a.kind, a.status) for a in answers})
            },
            "answers_5xx_other_than_503": sum(a.status >= 500 and a.status != 503 for a in answers),
            "slowest_answer_while_down_s": round(slowest, 2),
            "reexecuted": sum(job["attempts"] > 1 for job in done),
            "republished": int(store.hget(METRICS_KEY, "republished|audio.length") or 0),
            "seconds": round(time.monotonic() - started, 1),
        }
        record("rabbitmq_restart", figures)
        assert {job["status"] for job in done} == {"succeeded"}, done
        assert len(done) == len(accepted) == 30
    finally:
        stack.stop()
        rabbit.kill()
        store.close()
