"""Operational metrics: recorded in the job store by every process, served by the API.

``GET /metrics`` (Prometheus text format) shows

=============================================  ==========================================
``asyncml_jobs_submitted_total{task}``         jobs accepted
``asyncml_jobs_publish_failures_total{task}``  accepted jobs whose publish failed (503)
``asyncml_jobs_finished_total{task,outcome}``  succeeded / failed / canceled / expired
``asyncml_jobs_expired_total{task}``           jobs that expired before running
``asyncml_job_queue_wait_seconds{task}``       histogram: accepted → first start
``asyncml_job_run_seconds{task}``              histogram: start → succeeded/failed
``asyncml_batch_size{task}``                   histogram: jobs per call of a batched task
``asyncml_queue_depth{queue}``                 messages ready in the broker
``asyncml_queue_waiting_jobs{queue}``          jobs not started yet (job store)
``asyncml_queue_oldest_job_age_seconds{queue}``  age of the oldest waiting job
``asyncml_queue_workers{queue}``               workers with a fresh heartbeat
``asyncml_queue_worker_processes{queue}``      their processes
``asyncml_webhook_delivery_failures_total``    failed webhook attempts, by ``reason``
``asyncml_webhook_deliveries_abandoned_total`` webhooks given up
``asyncml_http_requests_total``                this API process: ``method, route, status``
``asyncml_http_request_duration_seconds``      this API process: ``method, route``
``asyncml_store_up``, ``asyncml_build_info``   scrape health, version
=============================================  ==========================================

Webhook delivery code counts its failures with ``record_webhook_failure`` (sync client)
or ``arecord_webhook_failure`` (asyncio client).
"""

from asyncml.metrics.recording import arecord_webhook_failure, record_webhook_failure

__all__ = ["arecord_webhook_failure", "record_webhook_failure"]
