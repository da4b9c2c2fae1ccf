"""The Prometheus text the API serves on ``GET /metrics``.

Two kinds of series, told apart by what they describe:

* **this API process**: HTTP requests by route template and status, request durations,
  ``process_*``. Prometheus scrapes every API replica and sums them.
* **the whole deployment**: job counts and histograms recorded in the store by every API
  and worker process (``asyncml.metrics.recording``), queue depth and age, live workers.
  Every replica reports the same values: aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

import asyncml
from asyncml.metrics.queues import QueueStats
from asyncml.metrics.recording import BATCH_BUCKETS, RUN_BUCKETS, WAIT_BUCKETS

OUTCOMES = ("succeeded", "failed", "canceled")
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HISTOGRAMS = {
    "wait": (
        "asyncml_job_queue_wait_seconds",
        "Time from a job being accepted to its first start (time in queue).",
        WAIT_BUCKETS,
    ),
    "run": (
        "asyncml_job_run_seconds",
        "Time from a job's start to it succeeding or failing.",
        RUN_BUCKETS,
    ),
    "batch": (
        "asyncml_batch_size",
        "Jobs run together in one run_batch call of a batched task.",
        BATCH_BUCKETS,
    ),
}
# Histograms shown only for the tasks that recorded into them (not a zero for every task).
SPARSE = {"batch"}


class RequestMetrics:
    """Per-process HTTP instruments, in the app's own registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "asyncml_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "asyncml_http_request_duration_seconds",
            "Time to answer an HTTP request (long-polls and streams included).",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


def _le(bound: float) -> str:
    """A bucket bound as Prometheus writes it: 0.5, 1.0, +Inf."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _histogram(
    name: str,
    doc: str,
    bounds: Sequence[float],
    buckets: Mapping[str, Mapping[str, int]],
    sums: Mapping[str, float],
    tasks: Iterable[str],
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=["task"])
    for task in sorted(set(tasks) | set(buckets)):
        counts = [0] * (len(bounds) + 1)
        for label, count in buckets.get(task, {}).items():
            # A bound no longer configured falls into the next configured one up, so
            # counts stay consistent when buckets change.
            value = math.inf if label == "+Inf" else float(label)
            counts[bisect.bisect_left(bounds, value)] += count
        cumulative, running = [], 0
        for bound, count in zip([*bounds, math.inf], counts, strict=True):
            running += count
            cumulative.append((_le(bound), running))
        family.add_metric([task], cumulative, sum_value=sums.get(task, 0.0))
    return family


# hash field kind → (metric name, help, label names); ``_total`` is added on output.
COUNTERS = {
    "submitted": ("asyncml_jobs_submitted", "Jobs accepted by the API.", ("task",)),
    "publish_failed": (
        "asyncml_jobs_publish_failures",
        "Jobs recorded whose publish to the broker failed (the client got a 503).",
        ("task",),
    ),
    "finished": (
        "asyncml_jobs_finished",
        "Jobs that reached a final state, by outcome.",
        ("task", "outcome"),
    ),
    "expired": ("asyncml_jobs_expired", "Jobs that expired before a worker ran them.", ("task",)),
    "republished": (
        "asyncml_jobs_republished",
        "Tasks sent again because the broker had lost their message (asyncml.worker.republish).",
        ("task",),
    ),
    "webhook_failed": (
        "asyncml_webhook_delivery_failures",
        "Webhook delivery attempts that failed, by reason.",
        ("reason",),
    ),
    "webhook_abandoned": (
        "asyncml_webhook_deliveries_abandoned",
        "Webhooks given up after their last attempt.",
        (),
    ),
}


def _known(kind: str, tasks: Sequence[str]) -> list[tuple[str, ...]]:
    """Series shown as 0 before anything happened, so rate() sees their first increase."""
    if kind == "finished":
        return [(t, o) for t in tasks for o in OUTCOMES]
    if kind == "webhook_abandoned":
        return [()]
    return [] if kind == "webhook_failed" else [(t,) for t in tasks]


def store_families(raw: Mapping[Any, Any], tasks: Sequence[str]) -> list[Metric]:
    """Job metrics from the store's metrics hash, with a zero for every known series."""
    simple: dict[str, dict[tuple[str, ...], float]] = defaultdict(dict)
    buckets: dict[str, dict[str, dict[str, int]]] = {k: defaultdict(dict) for k in HISTOGRAMS}
    sums: dict[str, dict[str, float]] = {k: {} for k in HISTOGRAMS}
    for key, value in raw.items():
        kind, *labels = (key.decode() if isinstance(key, bytes) else key).split("|")
        if kind in HISTOGRAMS and len(labels) == 2:
            task, le = labels
            if le == "sum":
                sums[kind][task] = float(value)
            else:
                buckets[kind][task][le] = int(value)
        else:
            simple[kind][tuple(labels)] = float(value)
    families: list[Metric] = []
    for kind, (name, doc, label_names) in COUNTERS.items():
        family = CounterMetricFamily(name, doc, labels=label_names)
        values = dict.fromkeys(_known(kind, tasks), 0.0) | simple.get(kind, {})
        for label_values, count in sorted(values.items()):
            if len(label_values) == len(label_names):
                family.add_metric(label_values, count)
        families.append(family)
    for kind, (name, doc, bounds) in HISTOGRAMS.items():
        known = () if kind in SPARSE else tasks
        families.append(_histogram(name, doc, bounds, buckets[kind], sums[kind], known))
    return families


def queue_families(stats: Sequence[QueueStats], depths: Mapping[str, int | None]) -> list[Metric]:
    depth = GaugeMetricFamily(
        "asyncml_queue_depth",
        "Messages ready in the broker queue (absent when the broker cannot say).",
        labels=["queue"],
    )
    waiting = GaugeMetricFamily(
        "asyncml_queue_waiting_jobs",
        "Jobs accepted on the queue that have not started yet (from the job store).",
        labels=["queue"],
    )
    oldest = GaugeMetricFamily(
        "asyncml_queue_oldest_job_age_seconds",
        "Age of the oldest job waiting on the queue; 0 when none waits.",
        labels=["queue"],
    )
    workers = GaugeMetricFamily(
        "asyncml_queue_workers",
        "Workers with a fresh heartbeat serving the queue.",
        labels=["queue"],
    )
    processes = GaugeMetricFamily(
        "asyncml_queue_worker_processes",
        "Worker processes (sum of concurrency) serving the queue.",
        labels=["queue"],
    )
    for queue, value in depths.items():
        if value is not None:
            depth.add_metric([queue], value)
    for s in stats:
        waiting.add_metric([s.name], s.queued)
        oldest.add_metric([s.name], s.oldest_age_s or 0.0)
        workers.add_metric([s.name], s.workers)
        processes.add_metric([s.name], s.processes)
    return [depth, waiting, oldest, workers, processes]


def status_families(store_up: bool) -> list[Metric]:
    up = GaugeMetricFamily(
        "asyncml_store_up", "1 if the job store answered this scrape, else 0.", value=store_up
    )
    info = GaugeMetricFamily("asyncml_build_info", "asyncml version.", labels=["version"])
    info.add_metric([asyncml.__version__], 1)
    return [up, info]


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


def render(registry: CollectorRegistry, families: list[Metric]) -> bytes:
    """This process's registry followed by the deployment-wide families."""
    return generate_latest(registry) + generate_latest(_Families(families))
