"""Settings: a bad value stops start-up naming the variable; secrets never show.

Every test runs in its own temporary directory, so the generated local key file
(``.data/secret_key``) and any ``.env`` are the test's own.
"""

from __future__ import annotations

import importlib.metadata
import stat
from pathlib import Path

import pytest

from app.infrastructure.config import (
    SECRET_KEY_MIN_LENGTH,
    STARTUP_FAILURE,
    Settings,
    SettingsError,
    load_settings,
    load_settings_or_exit,
)
from app.infrastructure.setting_values import SmtpEndpoint, smtp_endpoint

PROD_KEY = "p" * SECRET_KEY_MIN_LENGTH
PROD_DATABASE = "postgresql+asyncpg://app@db/app"


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _load(**environ: str) -> Settings:
    """Settings from exactly these variables, with no ``.env``."""
    return load_settings(environ, env_file=None)


def _write_env(directory: Path, **values: str) -> Path:
    env_file = directory / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return env_file


def test_defaults_need_no_settings() -> None:
    """``just dev`` runs on embedded defaults with nothing configured."""
    settings = _load()

    assert (settings.app_env, settings.port, settings.log_format) == ("local", 8000, "console")
    assert settings.database_url.startswith("sqlite")
    assert (settings.access_token_ttl_seconds, settings.refresh_token_ttl_seconds) == (900, 1_209_600)


def test_account_links_default_to_the_local_server_and_take_a_base_path() -> None:
    defaults = _load()
    assert (defaults.public_url, defaults.require_verified_email) == ("http://127.0.0.1:8000", False)
    assert (defaults.email_verification_ttl_seconds, defaults.password_reset_ttl_seconds) == (172_800, 3600)
    assert defaults.invitation_ttl_seconds == 604_800
    assert _load(PUBLIC_URL="https://example.org/accounts/").public_url == "https://example.org/accounts/"


def test_values_are_parsed_to_their_types() -> None:
    settings = _load(PORT="9000", DEBUG="true", WORKERS="4", CORS_ORIGINS="https://a.example, https://b.example")

    assert (settings.port, settings.debug, settings.workers) == (9000, True, 4)
    assert settings.cors_origin_list == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("GRPC_PORT", "-1"),
        ("WORKERS", "0"),
        ("HTTP_READ_TIMEOUT_SECONDS", "0"),
        ("HTTP_KEEP_ALIVE_SECONDS", "1.5"),
        ("DEBUG", "maybe"),
        ("APP_ENV", "staging"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "LOUD"),
        ("ACCESS_TOKEN_TTL_SECONDS", "soon"),
        ("RATE_LIMIT_AUTH", "lots"),
        ("CONSUMER_MAX_RETRIES", "-3"),
        ("SMTP_URL", "http://mail.example.com"),
        ("SMTP_URL", "smtp://"),
        ("SMTP_URL", "smtp://mail.example.com:99999"),
        ("EMAIL_FROM", "nobody"),
        ("JOB_MAX_ATTEMPTS", "0"),
        ("JOB_RETRY_BASE_SECONDS", "-1"),
        ("JOB_REDELIVERY_SECONDS", "0"),
        ("JOB_METRICS_PORT", "70000"),
        ("PURGE_SESSIONS_CRON", "every hour"),
        ("PURGE_SESSIONS_CRON", "61 * * * *"),
        ("PURGE_SESSIONS_CRON", "0 * * 13 *"),
        ("PURGE_SESSIONS_CRON", "*/0 * * * *"),
        ("FORWARDED_ALLOW_IPS", "proxy.internal"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.1/33"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.1/8"),
        ("FORWARDED_ALLOW_IPS", "10.0.0.1, 10.0.0"),
        ("FORWARDED_ALLOW_IPS", "*, 10.0.0.1"),
        ("FORWARDED_ALLOW_IPS", "127.0.0.1:8000"),
        ("DATABASE_URL", "nonsense"),
        ("DATABASE_URL", "postgresql://app@db/app"),
        ("DATABASE_URL", "mysql+aiomysql://app@db/app"),
        ("DATABASE_URL", "sqlite:///app.db"),
        ("REDIS_URL", "http://cache:6379"),
        ("REDIS_URL", "cache:6379"),
        ("SHOW_API_DOCS", "sometimes"),
        ("REQUIRE_VERIFIED_EMAIL", "perhaps"),
        ("PUBLIC_URL", "app.example.com"),
        ("PUBLIC_URL", "ftp://app.example.com"),
        ("PUBLIC_URL", "https://app.example.com/?x=1"),
        ("PUBLIC_URL", "https://app.example.com/#top"),
        ("PUBLIC_URL", "https:///path"),
        ("EMAIL_VERIFICATION_TTL_SECONDS", "0"),
        ("PASSWORD_RESET_TTL_SECONDS", "-60"),
        ("INVITATION_TTL_SECONDS", "0"),
        ("INVITATION_TTL_SECONDS", str(90 * 86_400 + 1)),
        ("GRPC_METRICS_PORT", "70000"),
        ("CONSUMER_METRICS_PORT", "-1"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "grpc://collector:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_SDK_DISABLED", "maybe"),
    ],
)
def test_an_invalid_value_is_refused_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=rf"^Invalid setting: {variable}:"):
        _load(**{variable: value})


@pytest.mark.parametrize("key", [None, "", "s" * (SECRET_KEY_MIN_LENGTH - 1)], ids=["unset", "empty", "short"])
def test_production_refuses_to_start_without_a_strong_secret_key(workdir: Path, key: str | None) -> None:
    environ = {"APP_ENV": "prod"} | ({} if key is None else {"SECRET_KEY": key})

    with pytest.raises(SettingsError, match="SECRET_KEY"):
        _load(**environ)

    assert not (workdir / ".data").exists(), "production must never fall back to a generated key"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nonsense", "unsupported scheme none (not a URL)"),
        ("mysql://root:s3cret@db/app", "unsupported scheme 'mysql'"),
        ("POSTGRESQL://root:s3cret@db/app", "unsupported scheme 'postgresql'"),
    ],
)
def test_a_database_url_no_shipped_driver_reads_is_named_as_such(url: str, shown: str) -> None:
    with pytest.raises(SettingsError) as refused:
        _load(DATABASE_URL=url)

    message = str(refused.value)
    assert message.startswith(f"Invalid setting: DATABASE_URL: {shown}, expected one of postgresql+asyncpg://")
    assert "s3cret" not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "url", ["postgresql+asyncpg://app@db/app", "sqlite+aiosqlite:///app.db", "SQLITE+AIOSQLITE:///x.db"]
)
def test_the_database_urls_of_the_shipped_drivers_are_accepted(url: str) -> None:
    assert _load(DATABASE_URL=url).database_url == url


@pytest.mark.parametrize("url", [None, ""], ids=["unset", "empty"])
def test_production_refuses_to_start_on_the_embedded_database(url: str | None) -> None:
    environ = {"APP_ENV": "prod", "SECRET_KEY": PROD_KEY} | ({} if url is None else {"DATABASE_URL": url})

    with pytest.raises(SettingsError, match=r"^Invalid setting: DATABASE_URL: required when APP_ENV=prod"):
        _load(**environ)


def test_production_runs_on_a_given_database() -> None:
    settings = _load(APP_ENV="prod", SECRET_KEY=PROD_KEY, DATABASE_URL="postgresql+asyncpg://app@db/app")

    assert not settings.uses_embedded_database


def test_the_docs_are_shown_and_titled_by_the_package_unless_configured() -> None:
    default = _load()
    configured = _load(SHOW_API_DOCS="false", API_TITLE="Acme", API_VERSION="2.0.0")

    assert default.show_api_docs is True
    assert default.api_title == "app"
    assert default.api_version == importlib.metadata.version("app")
    assert (configured.show_api_docs, configured.api_title, configured.api_version) == (False, "Acme", "2.0.0")


def test_the_entry_points_exit_with_one_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        load_settings_or_exit({"PORT": "eighty"})

    assert stopped.value.code == STARTUP_FAILURE
    assert capsys.readouterr().err == "Invalid setting: PORT: Expected `int`, got `str`\n"


def test_production_uses_the_given_key() -> None:
    assert _load(APP_ENV="prod", SECRET_KEY=PROD_KEY, DATABASE_URL=PROD_DATABASE).secret_key == PROD_KEY


def test_a_short_key_is_refused_outside_production_too() -> None:
    """A key that was set on purpose but is weak is a mistake; silently replacing it would hide it."""
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        _load(APP_ENV="local", SECRET_KEY="short")


def test_local_key_is_generated_once_and_kept(workdir: Path) -> None:
    """Every worker and every reload must sign with one key, or tokens break between them."""
    first, second = _load(), _load()

    assert first.secret_key == second.secret_key
    assert len(first.secret_key) >= SECRET_KEY_MIN_LENGTH
    key_file = workdir / ".data" / "secret_key"
    assert key_file.read_text().strip() == first.secret_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["secret_key"]


def test_local_keys_differ_between_checkouts(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is random, not a constant baked into the code."""
    first = _load().secret_key
    other = workdir / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    assert _load().secret_key != first


def test_env_file_is_honoured(workdir: Path) -> None:
    settings = load_settings({}, env_file=_write_env(workdir, PORT="9001", LOG_FORMAT="json"))
    assert (settings.port, settings.log_format) == (9001, "json")


def test_env_file_in_the_working_directory_is_read_by_default(workdir: Path) -> None:
    _write_env(workdir, PORT="9001")
    assert load_settings({}).port == 9001


def test_environment_overrides_env_file(workdir: Path) -> None:
    env_file = _write_env(workdir, PORT="9001", LOG_FORMAT="json")

    settings = load_settings({"PORT": "9002"}, env_file=env_file)

    assert (settings.port, settings.log_format) == (9002, "json")


def test_invalid_value_in_env_file_is_named(workdir: Path) -> None:
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings({}, env_file=_write_env(workdir, LOG_FORMAT="xml"))


def test_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit mapping the real environment is used; unrelated variables are ignored."""
    for name in Settings.__struct_fields__:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("PORT", "9003")
    monkeypatch.setenv("SOMETHING_ELSE", "ignored")

    assert load_settings().port == 9003


def test_empty_value_means_default() -> None:
    """``PORT=`` in a compose file means "not set", not "invalid"."""
    assert _load(PORT="", LOG_FORMAT="").port == 8000


@pytest.mark.parametrize("app_env", ["local", "prod"])
def test_repr_hides_the_secret_key(app_env: str) -> None:
    """Settings get logged and appear in tracebacks; the key must not."""
    settings = _load(APP_ENV=app_env, SECRET_KEY=PROD_KEY + "-secret", DATABASE_URL=PROD_DATABASE)

    for shown in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert settings.secret_key not in shown
        assert "secret_key='***'" in shown


def test_generated_key_is_hidden_too() -> None:
    settings = _load()
    assert settings.secret_key not in repr(settings)


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("smtp://mail.example.com", SmtpEndpoint("mail.example.com", 25, False, None, None)),
        ("smtps://mail.example.com", SmtpEndpoint("mail.example.com", 465, True, None, None)),
        ("SMTP://relay:2525", SmtpEndpoint("relay", 2525, False, None, None)),
        ("smtp://ops%40example.com:p%3Ass@relay:587", SmtpEndpoint("relay", 587, False, "ops@example.com", "p:ss")),
    ],
)
def test_smtp_url_gives_the_server_and_its_credentials(url: str, endpoint: SmtpEndpoint) -> None:
    assert smtp_endpoint(url) == endpoint
    assert _load(SMTP_URL=url).smtp_url == url


def test_a_bad_smtp_url_is_named_without_its_password() -> None:
    with pytest.raises(SettingsError, match="SMTP_URL") as refused:
        _load(SMTP_URL="imap://ops:hunter2@mail.example.com")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("cron", ["0 * * * *", "*/15 * * * *", "30 2 * * 0,6", "0 9-17/2 1-7 1,6,12 1-5"])
def test_cron_expressions_the_scheduler_reads_are_accepted(cron: str) -> None:
    assert _load(PURGE_SESSIONS_CRON=cron).purge_sessions_cron == cron


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
    ],
    ids=["no-endpoint", "endpoint", "empty-endpoint", "sdk-disabled"],
)
def test_tracing_is_on_with_an_otlp_endpoint_only(environ: dict[str, str], enabled: bool) -> None:
    assert _load(**environ).tracing_enabled is enabled


BASE = "http://collector:4318"
TRACES = "https://traces.example.com/otlp/spans"


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE}, f"{BASE}/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": f"{BASE}/"}, f"{BASE}/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": TRACES}, TRACES),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": TRACES}, TRACES),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": TRACES, "OTEL_SDK_DISABLED": "true"}, None),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""}, None),
    ],
    ids=["none", "base", "base-with-slash", "traces-only", "traces-wins", "sdk-disabled", "empty-traces"],
)
def test_spans_go_to_the_traces_endpoint_as_given_or_below_the_base_url(
    environ: dict[str, str], url: str | None
) -> None:
    settings = _load(**environ)
    assert settings.otlp_traces_url == url
    assert settings.tracing_enabled is (url is not None)
