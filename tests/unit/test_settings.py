from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from asyncml.settings import Settings, describe_errors

LEGACY = [
    "REDIS_HOST", "REDIS_PORT", "REDIS_PASS", "REDIS_USER", "REDIS_DB", "REDIS_DB_BACKEND",
    "REDIS_DB_BROKER", "RABBITMQ_HOST", "RABBITMQ_PORT", "RABBITMQ_USER", "RABBITMQ_PASS",
    "RABBITMQ_VHOST",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in LEGACY:
        monkeypatch.delenv(name, raising=False)
    for name in ("ASYNCML_BROKER_URL", "ASYNCML_STORE_URL", "ASYNCML_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_embedded_by_default(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    assert s.embedded
    assert s.effective_broker_url.startswith("redis+socket://")
    assert s.effective_store_url.startswith("unix://")
    assert str(s.socket_path).endswith(".sock")


def test_distributed_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCML_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    monkeypatch.setenv("ASYNCML_STORE_URL", "redis://127.0.0.1:6379/0")
    s = Settings()
    assert not s.embedded and not s.broker_is_redis
    assert s.effective_store_url == "redis://127.0.0.1:6379/0"


def test_one_url_without_the_other_is_refused() -> None:
    with pytest.raises(ValidationError, match="ASYNCML_STORE_URL is unset"):
        Settings(broker_url="amqp://127.0.0.1//")


def test_bad_scheme_refused() -> None:
    with pytest.raises(ValidationError, match="must start with"):
        Settings(broker_url="http://x", store_url="redis://x")


def test_time_limits_must_fit_the_redelivery_window() -> None:
    with pytest.raises(ValidationError, match="VISIBILITY"):
        Settings(task_soft_time_limit_s=10, task_time_limit_s=100, visibility_timeout_s=50)
    with pytest.raises(ValidationError, match="SOFT"):
        Settings(task_soft_time_limit_s=100, task_time_limit_s=100)


def test_original_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_PASS": "p@ss", "REDIS_DB_BACKEND": "2",
        "RABBITMQ_HOST": "mq", "RABBITMQ_USER": "u", "RABBITMQ_PASS": "pw", "RABBITMQ_VHOST": "v",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.store_url == "redis://:p%40ss@cache:6380/2"
    assert s.broker_url == "amqp://u:pw@mq:5672/v"


def test_original_redis_only_deployment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "cache")
    monkeypatch.setenv("REDIS_DB_BROKER", "1")
    monkeypatch.setenv("REDIS_DB_BACKEND", "0")
    s = Settings()
    assert s.broker_url == "redis://cache:6379/1"
    assert s.store_url == "redis://cache:6379/0"


def test_asyncml_urls_win_over_original(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RABBITMQ_HOST", "mq")
    monkeypatch.setenv("REDIS_HOST", "cache")
    monkeypatch.setenv("ASYNCML_BROKER_URL", "redis://a:6379/1")
    monkeypatch.setenv("ASYNCML_STORE_URL", "redis://a:6379/0")
    s = Settings()
    assert s.broker_url == "redis://a:6379/1" and s.store_url == "redis://a:6379/0"


def test_long_data_dir_gets_a_short_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    assert len(str(Settings(data_dir=deep).socket_path)) < 100


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ASYNCML_EGRESS_ALLOW", "127.0.0.1,http://files.local", "127.0.0.1:8765"),
        ("ASYNCML_RATE_LIMIT", "fast", "20/s"),
        ("ASYNCML_WEBHOOK_RETRY_SCHEDULE_S", "5,10", "0,5,300"),
        ("ASYNCML_API_KEYS", "billing", "name:key"),
        ("ASYNCML_LOG_LEVEL", "verbose", "WARNING"),
        ("ASYNCML_EURO_BASE_URL", "euro-millions.com/results/", "https://"),
        ("ASYNCML_STORE_URL", "redis://127.0.0.1:63x9/0", "redis://host:6379/0"),
        ("ASYNCML_STORE_URL", "redis://127.0.0.1:6379/jobs", "redis://host:6379/0"),
        ("ASYNCML_BROKER_URL", "amqp://127.0.0.1:99999//", "amqp://"),
    ],
)
def test_a_wrong_setting_is_refused_naming_it_and_the_accepted_forms(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    if variable.endswith("_URL") and "EURO" not in variable:
        monkeypatch.setenv("ASYNCML_BROKER_URL", "redis://127.0.0.1:6379/1")
        monkeypatch.setenv("ASYNCML_STORE_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    (line,) = describe_errors(info.value)
    assert line.startswith(f"{variable}: ") and expected in line, line


def test_field_errors_name_the_variable_and_the_value() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(port=99999)
    (line,) = describe_errors(info.value)
    assert line.startswith("ASYNCML_PORT: ") and "99999" in line


def test_secrets_are_not_echoed() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(api_keys="billing:short")
    assert "short" not in " ".join(describe_errors(info.value)).replace("shorter", "")


def test_host_port_allow_entries_and_log_level_case_are_accepted() -> None:
    s = Settings(egress_allow="127.0.0.1:8765, [::1]:8765", log_level="debug")
    assert s.log_level == "DEBUG"
