"""The only module that reads the environment.

Every knob is an ``ASYNCML_*`` variable (or a ``.env`` file). With nothing set, asyncml runs
*embedded*: broker and job store live in one Valkey server that asyncml starts itself, on a
unix socket inside ``ASYNCML_DATA_DIR``. Setting ``ASYNCML_BROKER_URL`` and
``ASYNCML_STORE_URL`` switches to the distributed layout. Deployments of the original proof
of concept keep working: its ``REDIS_*`` and ``RABBITMQ_*`` variables are honoured when the
``ASYNCML_*`` URLs are unset.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from asyncml.apikeys import KeyRing
from asyncml.webhooks import parse_secrets

DEFAULT_EURO_BASE_URL = "https://www.euro-millions.com/results/"
# At once, 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h: 12 attempts over about 2.8 days.
DEFAULT_WEBHOOK_SCHEDULE = "0,5,300,1800,7200,18000,36000,36000,36000,36000,36000,36000"
# Unix socket paths are limited to 107 bytes on Linux (103 on macOS).
_MAX_SOCKET_PATH = 100


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "asyncml"


class Settings(BaseSettings):
    """asyncml configuration, validated once at start and passed into every factory."""

    model_config = SettingsConfigDict(
        env_prefix="ASYNCML_", env_file=".env", extra="ignore", frozen=True
    )

    broker_url: str | None = Field(
        default=None, description="amqp://… or redis://…; unset means embedded"
    )
    store_url: str | None = Field(
        default=None, description="redis://… job store; unset means embedded"
    )
    data_dir: Path = Field(default_factory=_default_data_dir)
    egress_allow: str = Field(
        default="", description="comma-separated hosts, CIDRs and :PORTs that fetches may reach"
    )
    euro_base_url: str = DEFAULT_EURO_BASE_URL
    # audio.transcribe (the speech extra): "base" (multilingual Whisper, identifies the
    # language), "tiny.en" (English only, faster) or the path of a CTranslate2 Whisper model.
    speech_model: str = Field(default="base", min_length=1)
    speech_threads: int = Field(default=1, ge=1, le=64, description="CPU threads per process")
    speech_beam_size: int = Field(default=5, ge=1, le=10)
    # Longer recordings are cut here; at 0.2-0.6 s of CPU per second of audio ("base"), raise
    # ASYNCML_TASK_*_LIMIT_S and ASYNCML_VISIBILITY_TIMEOUT_S together with it.
    speech_max_seconds: float = Field(default=600.0, gt=0, le=6 * 3600)

    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65535)
    # Behind a reverse proxy: the path prefix it serves the API under (/docs and the
    # OpenAPI document's links use it), and the proxies whose X-Forwarded-For/-Proto
    # headers are believed (comma-separated addresses or networks, or *).
    root_path: str = ""
    forwarded_allow_ips: str = "127.0.0.1"

    job_retention_s: int = Field(default=48 * 3600, ge=60)
    max_attempts: int = Field(default=3, ge=1, le=100)
    # A job error marked retryable (TaskError(..., retryable=True); transient download
    # failures, unless retry_transient is off) runs the job again, up to max_attempts: the
    # first retry after retry_backoff_s, each next one twice as long, at most
    # retry_backoff_max_s (and under half the visibility timeout), with ±20 % jitter.
    retry_backoff_s: float = Field(default=2.0, gt=0, le=3600)
    retry_backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    retry_transient: bool = True
    # The hard limit stays below the broker's redelivery window (the Redis visibility
    # timeout; RabbitMQ's consumer_timeout is 30 min by default) so a task is not handed to a
    # second worker while it still runs. A shorter window recovers a killed worker's jobs
    # sooner on a Redis broker.
    task_soft_time_limit_s: int = Field(default=120, ge=1)
    task_time_limit_s: int = Field(default=150, ge=2)
    visibility_timeout_s: int = Field(default=180, ge=3)
    # How long a started job stays claimed without a renewal (renewed every third of it). A
    # redelivered copy waits while the lease is fresh; a dead worker's job is free to run
    # again once it lapses, so this is also how long recovering a killed worker's job takes.
    lease_s: float = Field(default=15.0, ge=1, le=3600)
    # A job queued this long with no message left for it in the broker gets its task sent
    # again (asyncml.worker.republish): a Redis broker loses a message when a worker is
    # SIGKILLed at the wrong moment, and a publish without confirms can be lost when
    # RabbitMQ dies. Unset: twice the visibility timeout. 0: off.
    requeue_after_s: float | None = Field(default=None, ge=0, le=7 * 86400)
    # How a worker runs its jobs (``asyncml worker --pool``). prefork: Celery's pool, one
    # parent and N child processes. solo: N single-process Celery workers, each running its
    # job inline, supervised by the command (asyncml.worker.processes): less CPU per job;
    # Redis brokers only. auto: solo on a Redis broker (the embedded one included), else
    # prefork.
    worker_pool: Literal["auto", "prefork", "solo"] = "auto"
    # Import strings of task classes or modules (comma-separated), added to the installed
    # packages' ``asyncml.tasks`` entry points; ``asyncml worker --tasks`` adds more.
    tasks: str = ""

    fetch_max_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    # A body that a fetch no longer needs is read to its end, when at most this much is left,
    # so its connection can serve the next fetch from that server. 0 (the default): stop
    # reading once the answer is known and close the connection.
    fetch_drain_bytes: int = Field(default=0, ge=0)
    fetch_timeout_s: float = Field(default=60.0, gt=0)
    fetch_connect_timeout_s: float = Field(default=5.0, gt=0)

    # A request's line and headers (its head) must arrive within header_timeout_s of its
    # first byte (or of the connection opening) and stay within max_header_bytes: past
    # either the API answers 408 or 431 and closes the connection, so slow or endless heads
    # cannot hold connections and memory (asyncml.api.server). keep_alive_s: how long an
    # idle connection is kept between requests.
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, le=1024 * 1024)
    keep_alive_s: int = Field(default=5, ge=1, le=300)

    # Job store connections per API process. A request that finds them all in use waits for
    # one, up to store_pool_wait_s, so a burst of reads queues for a moment instead of
    # failing; only a pool busy for that whole wait is answered 503 (busy, not unreachable).
    # One connection is the job event listener's. Each API replica opens up to this many.
    store_max_connections: int = Field(default=100, ge=2, le=10000)
    store_pool_wait_s: float = Field(default=10.0, gt=0, le=300)

    long_poll_max_s: float = Field(default=60.0, gt=0)
    sse_heartbeat_s: float = Field(default=15.0, gt=0, description="SSE keep-alive comments")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text for people, json for one JSON object per line"
    )
    # The API's access log: one line per HTTP request (uvicorn's, in asyncml's format).
    access_log: bool = True
    # Celery task events feed Flower's task views. Off by default: every task then costs
    # extra broker messages (sent, received, started, succeeded) that nothing else reads.
    task_events: bool = False

    # Standard Webhooks secrets (whsec_…), space- or comma-separated while rotating. Unset:
    # asyncml makes one and keeps it in the job store (see asyncml.worker.webhooks).
    webhook_secret: SecretStr = SecretStr("")
    # Delay before each attempt, in seconds (the first is 0: at once). Default: about 3 days.
    webhook_retry_schedule_s: str = DEFAULT_WEBHOOK_SCHEDULE
    webhook_timeout_s: float = Field(default=15.0, gt=0, le=120)

    # name:key pairs (comma-separated) or @/path/to/file; unset: no authentication, and
    # the API refuses to listen beyond loopback unless insecure_no_auth is set.
    api_keys: SecretStr = SecretStr("")
    insecure_no_auth: bool = False
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2, le=512)
    max_input_bytes: int = Field(default=64 * 1024, ge=256)
    # POST /v1/files: the largest upload, kept in the job store (so in Redis memory) as long
    # as jobs are; and the longest data: URI a job input may hold (larger: upload the file).
    upload_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024)
    data_uri_max_bytes: int = Field(default=32 * 1024, ge=64)
    # "20/s", "600/m", "10000/h": a token bucket per key (burst = the number); unset: none.
    rate_limit: str = ""
    max_queued: int = Field(default=10000, ge=1, description="jobs waiting per queue")
    # The browser console at /ui (asyncml.api.ui); false: the API serves no /ui at all.
    console: bool = True

    @field_validator("broker_url", "store_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return value or None

    @field_validator("broker_url")
    @classmethod
    def _check_broker(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split("://", 1)[0].lower()
        if scheme not in {"amqp", "amqps", "pyamqp", "redis", "rediss", "redis+socket"}:
            raise ValueError(
                f"ASYNCML_BROKER_URL must start with amqp://, redis:// or rediss://, got {scheme}://"
            )
        _check_url_parts("ASYNCML_BROKER_URL", value, "amqp://user:pass@host:5672/vhost")
        return value

    @field_validator("store_url")
    @classmethod
    def _check_store(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split("://", 1)[0].lower()
        if scheme not in {"redis", "rediss", "unix", "valkey", "valkeys"}:
            raise ValueError(
                f"ASYNCML_STORE_URL must start with redis://, rediss:// or unix://, got {scheme}://"
            )
        _check_url_parts("ASYNCML_STORE_URL", value, "redis://host:6379/0")
        if scheme != "unix":
            db = urlsplit(value).path.strip("/")
            if db and not db.isdigit():
                raise ValueError(
                    "ASYNCML_STORE_URL: the path names a database by number "
                    f"(redis://host:6379/0), got /{db}"
                )
        return value

    @field_validator("egress_allow")
    @classmethod
    def _check_egress_allow(cls, value: str) -> str:
        if value.strip():
            # Imported here: the net package brings httpx, which plain settings need not.
            from asyncml.net.policy import EgressPolicy

            try:
                EgressPolicy.from_allow_string(value)
            except ValueError as exc:
                raise ValueError(f"ASYNCML_EGRESS_ALLOW: {exc}") from None
        return value

    @field_validator("euro_base_url")
    @classmethod
    def _check_euro_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(
                "ASYNCML_EURO_BASE_URL: expected an http(s) URL to which the draw date "
                f"(DD-MM-YYYY) is appended, e.g. {DEFAULT_EURO_BASE_URL}"
            )
        _check_url_parts("ASYNCML_EURO_BASE_URL", value, DEFAULT_EURO_BASE_URL)
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"ASYNCML_LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("requeue_after_s", mode="before")
    @classmethod
    def _check_requeue_after(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            return value  # the field's own validation explains
        if 0 < seconds < 1:
            raise ValueError(
                "ASYNCML_REQUEUE_AFTER_S: at least 1 second (jobs waiting longer are looked "
                "for in the broker), or 0 to turn re-publishing off"
            )
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr) -> SecretStr:
        try:
            parse_secrets(value.get_secret_value())
        except ValueError as exc:
            raise ValueError(f"ASYNCML_WEBHOOK_SECRET: {exc}") from None
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: SecretStr) -> SecretStr:
        try:
            KeyRing.parse(value.get_secret_value())
        except ValueError as exc:
            raise ValueError(f"ASYNCML_API_KEYS: {exc}") from None
        return value

    @field_validator("rate_limit")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        parse_rate(value)
        return value

    @field_validator("webhook_retry_schedule_s")
    @classmethod
    def _check_webhook_schedule(cls, value: str) -> str:
        _parse_schedule(value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _legacy_environment(cls, data: Any) -> Any:
        """Fill the URLs from the original proof of concept's variables when ours are unset."""
        if not isinstance(data, dict):
            return data
        env = os.environ
        if not (data.get("store_url") or env.get("ASYNCML_STORE_URL")) and env.get("REDIS_HOST"):
            db = env.get("REDIS_DB_BACKEND") or env.get("REDIS_DB") or "0"
            data["store_url"] = _legacy_redis_url(db)
        if not (data.get("broker_url") or env.get("ASYNCML_BROKER_URL")):
            if env.get("RABBITMQ_HOST"):
                data["broker_url"] = _legacy_amqp_url()
            elif env.get("REDIS_HOST") and env.get("REDIS_DB_BROKER"):
                data["broker_url"] = _legacy_redis_url(env["REDIS_DB_BROKER"])
        return data

    @model_validator(mode="after")
    def _check_consistency(self) -> Settings:
        if (self.broker_url is None) != (self.store_url is None):
            missing = "ASYNCML_STORE_URL" if self.store_url is None else "ASYNCML_BROKER_URL"
            raise ValueError(
                f"{missing} is unset: set both ASYNCML_BROKER_URL and ASYNCML_STORE_URL for the "
                "distributed layout, or neither for the embedded one"
            )
        if self.task_soft_time_limit_s >= self.task_time_limit_s:
            raise ValueError(
                "ASYNCML_TASK_SOFT_TIME_LIMIT_S must be below ASYNCML_TASK_TIME_LIMIT_S"
            )
        if self.task_time_limit_s >= self.visibility_timeout_s:
            raise ValueError(
                "ASYNCML_TASK_TIME_LIMIT_S must be below ASYNCML_VISIBILITY_TIMEOUT_S, or a "
                "running task would be delivered to a second worker"
            )
        return self

    @property
    def embedded(self) -> bool:
        return self.broker_url is None

    @property
    def socket_path(self) -> Path:
        """Where the embedded Valkey server listens."""
        path = self.data_dir.resolve() / "valkey.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"asyncml-{digest}.sock"

    @property
    def effective_broker_url(self) -> str:
        if self.broker_url is not None:
            return self.broker_url
        return f"redis+socket://{self.socket_path}?virtual_host=0"

    @property
    def effective_store_url(self) -> str:
        if self.store_url is not None:
            return self.store_url
        return f"unix://{self.socket_path}?db=0"

    @property
    def effective_worker_pool(self) -> str:
        if self.worker_pool == "auto":
            return "solo" if self.broker_is_redis else "prefork"
        return self.worker_pool

    @property
    def broker_is_redis(self) -> bool:
        return self.effective_broker_url.startswith(("redis", "rediss"))

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        """The configured webhook secrets; empty when asyncml should keep its own."""
        return parse_secrets(self.webhook_secret.get_secret_value())

    @property
    def key_ring(self) -> KeyRing:
        """The API keys as digests; empty when authentication is off."""
        return KeyRing.parse(self.api_keys.get_secret_value())

    @property
    def rate(self) -> tuple[int, float] | None:
        """(burst, tokens per second) of the per-key rate limit, or None."""
        return parse_rate(self.rate_limit)

    def exposure_problem(self) -> str | None:
        """Why the API must not start as configured: listening beyond loopback without
        keys. None when it may."""
        if self.insecure_no_auth or is_loopback(self.host) or self.key_ring.enabled:
            return None
        return (
            f"refusing to listen on {self.host} without API keys: anyone who can reach it "
            "could run jobs and read every result. Set ASYNCML_API_KEYS (name:key,...), "
            "listen on 127.0.0.1, or accept the risk with ASYNCML_INSECURE_NO_AUTH=true "
            "(--insecure)"
        )

    @property
    def webhook_schedule(self) -> tuple[float, ...]:
        """Delay before each webhook attempt; its length is the number of attempts."""
        return _parse_schedule(self.webhook_retry_schedule_s)


_SECRET_FIELDS = frozenset({"api_keys", "webhook_secret"})


def describe_errors(exc: ValidationError) -> list[str]:
    """One line per problem, each naming its environment variable (``ASYNCML_PORT: …``)."""
    lines = []
    for error in exc.errors():
        field = ".".join(map(str, error["loc"]))
        variable = f"ASYNCML_{field.upper()}" if field else ""
        message = error["msg"].removeprefix("Value error, ")
        if variable and not message.startswith(variable):
            message = f"{variable}: {message}"
            if field not in _SECRET_FIELDS and isinstance(error.get("input"), str | int | float):
                message += f" (got {error['input']!r})"
        lines.append(message)
    return lines


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _check_url_parts(variable: str, value: str, example: str) -> None:
    """Refuse a URL whose port is not a number in range (read only when connecting)."""
    try:
        urlsplit(value).port  # noqa: B018  # raises on a bad port
    except ValueError as exc:
        raise ValueError(f"{variable}: {exc} in the URL; expected e.g. {example}") from None


def _parse_schedule(value: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in re.split(r"[\s,]+", value.strip()) if part)
    except ValueError:
        raise ValueError(
            "ASYNCML_WEBHOOK_RETRY_SCHEDULE_S: expected seconds separated by commas, "
            "e.g. 0,5,300,1800"
        ) from None
    if not delays or delays[0] != 0 or any(d < 0 or d != d or d > 7 * 86400 for d in delays):
        raise ValueError(
            "ASYNCML_WEBHOOK_RETRY_SCHEDULE_S: the first delay must be 0 (the first attempt is "
            "immediate) and each delay between 0 and 604800 seconds, e.g. 0,5,300,1800"
        )
    return delays


_RATE = re.compile(r"^(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour)$")
_UNIT_S = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}


def parse_rate(value: str) -> tuple[int, float] | None:
    """``"20/s"`` → (20, 20.0): a burst of 20, refilled at 20 per second. Empty: None."""
    if not value.strip():
        return None
    match = _RATE.match(value.strip().lower())
    if not match or int(match.group(1)) < 1:
        raise ValueError(
            "ASYNCML_RATE_LIMIT: expected requests per period, e.g. 20/s, 600/m or 10000/h"
        )
    count, span, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    return count, count / (span * _UNIT_S.get(unit, 3600))


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() in {"localhost", "::1"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _legacy_redis_url(db: str) -> str:
    env = os.environ
    password = env.get("REDIS_PASS", "")
    user = env.get("REDIS_USER", "")
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if (user or password) else ""
    return f"redis://{auth}{env['REDIS_HOST']}:{env.get('REDIS_PORT') or '6379'}/{db}"


def _legacy_amqp_url() -> str:
    env = os.environ
    user = quote(env.get("RABBITMQ_USER", "guest"), safe="")
    password = quote(env.get("RABBITMQ_PASS", "guest"), safe="")
    vhost = quote(env.get("RABBITMQ_VHOST", ""), safe="")
    port = env.get("RABBITMQ_PORT") or "5672"
    return f"amqp://{user}:{password}@{env['RABBITMQ_HOST']}:{port}/{vhost}"
