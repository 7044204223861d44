"""Settings: read once from the environment (and ``.env``), validated into a typed structure.

A bad value stops the process at start-up with the variable's name, instead of failing on
the first request that happens to need it.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from dotenv import dotenv_values

from app.infrastructure.setting_values import check_cron, smtp_endpoint, trusted_proxies

DATA_DIR = Path(".data")
EMBEDDED_DATABASE_URL = f"sqlite+aiosqlite:///{DATA_DIR}/app.db"
SECRET_KEY_MIN_LENGTH = 32
#: Where OTLP/HTTP receivers take spans, below the base URL of ``OTEL_EXPORTER_OTLP_ENDPOINT``.
OTLP_TRACES_PATH = "/v1/traces"

PositiveInt = Annotated[int, msgspec.Meta(gt=0)]


def _package_version() -> str:
    """The installed distribution's version (pyproject's ``version``): what the API documents by default."""
    try:
        return version("app")
    except PackageNotFoundError:
        return "0.0.0"


Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]


class Settings(msgspec.Struct, kw_only=True, frozen=True, rename="upper", forbid_unknown_fields=False):
    """Every setting the service reads; names are the environment variables, upper-cased."""

    app_env: Literal["local", "test", "prod"] = "local"
    debug: bool = False
    secret_key: str = ""
    database_url: str = EMBEDDED_DATABASE_URL
    database_pool_size: PositiveInt = 10
    database_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    redis_url: str | None = None
    # Bound on connecting to Redis and on each reply: a hung Redis must fail fast, not stall requests.
    redis_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 0.5
    # How long a cached authentication may live; bounds the effect of a lost invalidation.
    auth_cache_ttl_seconds: PositiveInt = 60
    broker_url: str | None = None
    host: str = "127.0.0.1"
    port: Port = 8000
    workers: PositiveInt = 1
    # A request (head and body) must arrive whole within this long of its first byte, or the
    # connection is closed: a slow or stalled client cannot hold a connection for ever.
    http_read_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    # A connection idle between requests is closed after this long; behind a load balancer,
    # make it longer than the balancer's own idle timeout.
    http_keep_alive_seconds: PositiveInt = 5
    # The proxies whose X-Forwarded-For is believed (comma-separated IPs and CIDR networks, or *):
    # the client IP of rate limits and sessions. None by default: the client is the connection's peer.
    forwarded_allow_ips: str = ""
    grpc_port: Port = 50051
    # The /metrics endpoints of the processes that serve no HTTP (0: none): gRPC and the consumer.
    grpc_metrics_port: Port = 9101
    consumer_metrics_port: Port = 9102
    # On SIGTERM/SIGINT the gRPC server refuses new calls and lets running ones finish for this long.
    grpc_shutdown_grace_seconds: Annotated[float, msgspec.Meta(ge=0)] = 10.0
    access_token_ttl_seconds: PositiveInt = 900
    refresh_token_ttl_seconds: PositiveInt = 1_209_600
    rate_limit_auth: Annotated[str, msgspec.Meta(pattern=r"^\d+/(second|minute|hour|day)$")] = "20/minute"
    # Signing in needs a verified email address (the link in the welcome email) besides the password.
    require_verified_email: bool = False
    # Where users reach the service: the base of the links in emails (…/verify-email?token=…,
    # …/reset-password?token=…, …/accept-invitation?token=…), which a front end serves and
    # confirms through the API.
    public_url: Annotated[str, msgspec.Meta(pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$")] = "http://127.0.0.1:8000"
    # How long a verification link and a password-reset link stay usable.
    email_verification_ttl_seconds: PositiveInt = 172_800
    password_reset_ttl_seconds: PositiveInt = 3600
    # How long an invitation to an organization stays usable (at most 90 days).
    invitation_ttl_seconds: Annotated[int, msgspec.Meta(gt=0, le=7_776_000)] = 604_800
    # How far ahead of a task's due date its assignee is reminded (once per due date).
    task_reminder_window_seconds: PositiveInt = 86_400
    cors_origins: str = ""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "console"
    smtp_url: str | None = None
    # The sender of every email; a bare address or "Name <address>".
    email_from: Annotated[str, msgspec.Meta(min_length=3, pattern=r"@")] = "App <no-reply@example.com>"
    # Bound on each SMTP conversation: a hung mail server fails the job (which is retried), never stalls it.
    smtp_timeout_seconds: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    # Background jobs (Taskiq): a failing job is tried this many times in all, with exponential backoff.
    job_max_attempts: PositiveInt = 5
    job_retry_base_seconds: Annotated[float, msgspec.Meta(gt=0)] = 2.0
    job_retry_max_seconds: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    # A job taken by a worker that did not finish it (the worker died) is run again after this long.
    # It must exceed the longest run of any job, or a slow job would be run twice.
    job_redelivery_seconds: PositiveInt = 300
    job_result_ttl_seconds: PositiveInt = 86_400
    # Processes of `just worker`, and the port of their /metrics endpoint (0: none).
    job_workers: PositiveInt = 1
    job_metrics_port: Port = 9100
    # When the scheduler enqueues purge_expired_sessions (cron, UTC).
    purge_sessions_cron: str = "0 * * * *"
    # When the scheduler looks for users still owed their welcome email (cron, UTC), and how
    # long after signing up a user without one counts as owed (its job lost or given up).
    welcome_sweep_cron: str = "*/10 * * * *"
    welcome_sweep_after_seconds: PositiveInt = 600
    consumer_max_retries: Annotated[int, msgspec.Meta(ge=0)] = 5
    # RabbitMQ: inbound messages one consumer holds at once (unacknowledged); those that arrive
    # together are applied as one transaction, so this also bounds a batch.
    consumer_prefetch: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 256
    # Redis streams: a message taken but not acknowledged for this long (its consumer died) is taken over.
    consumer_stale_seconds: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    request_max_body_bytes: PositiveInt = 1_048_576
    password_hash_time_cost: PositiveInt = 3
    password_hash_memory_kib: Annotated[int, msgspec.Meta(ge=8)] = 65_536
    password_hash_parallelism: PositiveInt = 4
    # How many items of one bulk create may carry a password: their hashes run one at a time,
    # beside sign-ins, so this bounds how long such a request takes (about this many hashes).
    bulk_max_passwords: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 10
    # The interactive API docs (/schema, /schema/swagger, /schema/redoc); the OpenAPI
    # document itself (/schema/openapi.json) is always served.
    show_api_docs: bool = True
    # The OpenAPI document's info.title and info.version (by default the package's version).
    api_title: Annotated[str, msgspec.Meta(min_length=1)] = "app"
    api_version: Annotated[str, msgspec.Meta(min_length=1)] = msgspec.field(default_factory=_package_version)
    # Tracing (OpenTelemetry): on when an OTLP endpoint is set, spans exported over HTTP/protobuf
    # (the only protocol shipped). The SDK reads the other OTEL_* variables itself (sampler, headers…).
    # The base URL: spans go to its /v1/traces.
    otel_exporter_otlp_endpoint: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$")] | None = None
    # The traces' own URL, used as given; set, it wins over the base URL (OpenTelemetry's rule).
    otel_exporter_otlp_traces_endpoint: Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$")] | None = None
    otel_exporter_otlp_protocol: Literal["http/protobuf"] = "http/protobuf"
    otel_service_name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] = "app"
    # The SDK's own switch: true turns tracing off whatever the endpoint.
    otel_sdk_disabled: bool = False

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks; the key must not.
        shown = {name: getattr(self, name) for name in self.__struct_fields__}
        shown["secret_key"] = "***"  # noqa: S105 - the mask, not a key
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def otlp_traces_url(self) -> str | None:
        """Where spans are exported, by OpenTelemetry's rule for the two endpoint variables; None: tracing is off."""
        if self.otel_sdk_disabled:
            return None
        if self.otel_exporter_otlp_traces_endpoint is not None:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint is not None:
            return self.otel_exporter_otlp_endpoint.rstrip("/") + OTLP_TRACES_PATH
        return None

    @property
    def tracing_enabled(self) -> bool:
        """Spans are recorded and exported only with an OTLP endpoint; without one nothing of OpenTelemetry loads."""
        return self.otlp_traces_url is not None

    @property
    def is_production(self) -> bool:
        return self.app_env == "prod"

    @property
    def exposes_internals(self) -> bool:
        """Error details reach clients only on a developer's own machine."""
        return self.app_env == "local" and self.debug

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


class SettingsError(Exception):
    """Raised at start-up with a message that names the offending variable."""


#: The exit status of a process refused for its settings. uvicorn reads 3 as "failed to
#: start, and would fail the same way again": its supervisor stops instead of restarting.
STARTUP_FAILURE = 3


#: What a process of each role cannot run without, beyond what every process needs.
ROLE_REQUIREMENTS: dict[str, tuple[str, str]] = {
    "worker": ("REDIS_URL", "required by a worker or scheduler (jobs run in the API without it)"),
    "consumer": ("BROKER_URL", "required by the consumer (amqp://, kafka:// or redis://)"),
}


def load_settings_or_exit(environ: Mapping[str, str] | None = None, *, role: str | None = None) -> Settings:
    """Settings for a process's entry point, or one line on stderr and exit ``STARTUP_FAILURE``.

    An operator who mistyped a variable must read its name and the fault, not a traceback
    through whichever framework happened to load the settings: every process (HTTP, gRPC,
    consumer, worker, scheduler, migrations, CLI) starts here. ``role`` adds what that kind
    of process needs (:data:`ROLE_REQUIREMENTS`).
    """
    try:
        settings = load_settings(environ)
        if role is not None:
            variable, reason = ROLE_REQUIREMENTS[role]
            if getattr(settings, variable.lower()) is None:
                raise SettingsError(f"Invalid setting: {variable}: {reason}")
    except SettingsError as exc:
        sys.stderr.write(f"{exc}\n")
        sys.stderr.flush()
        raise SystemExit(STARTUP_FAILURE) from None
    return settings


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Build settings from ``.env`` overlaid by the real environment (which wins)."""
    raw: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        raw.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    raw.update(os.environ if environ is None else environ)
    known = {name.upper() for name in Settings.__struct_fields__}
    values = {key: value for key, value in raw.items() if key in known and value != ""}
    try:
        settings = msgspec.convert(values, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"Invalid setting: {_name_variable(str(exc))}") from None
    try:
        database_backend(settings.database_url)
        if settings.redis_url is not None:
            _check_scheme("REDIS_URL", settings.redis_url, REDIS_SCHEMES)
        if settings.broker_url is not None:
            broker_scheme(settings.broker_url)
        if settings.smtp_url is not None:
            smtp_endpoint(settings.smtp_url)
        check_cron("PURGE_SESSIONS_CRON", settings.purge_sessions_cron)
        check_cron("WELCOME_SWEEP_CRON", settings.welcome_sweep_cron)
        trusted_proxies(settings.forwarded_allow_ips)
    except ValueError as exc:
        raise SettingsError(f"Invalid setting: {exc}") from None
    settings = _with_secret_key(settings)
    if settings.is_production and "DATABASE_URL" not in values:
        raise SettingsError(
            "Invalid setting: DATABASE_URL: required when APP_ENV=prod (the embedded SQLite file is for development)"
        )
    return settings


#: The database drivers the service ships: asyncpg for PostgreSQL, aiosqlite for the embedded file.
DATABASE_SCHEMES = ("postgresql+asyncpg", "sqlite+aiosqlite")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def database_backend(url: str) -> str:
    """``postgresql`` or ``sqlite``; ValueError naming ``DATABASE_URL`` for a scheme no shipped driver reads."""
    scheme = _check_scheme("DATABASE_URL", url, DATABASE_SCHEMES)
    return scheme.partition("+")[0]


def _check_scheme(variable: str, url: str, schemes: tuple[str, ...]) -> str:
    """The URL's scheme, lower-cased, if it is one of ``schemes``; else ValueError naming the variable.

    The message shows the scheme only, never the URL: it may carry a password.
    """
    scheme, separator, _ = url.partition("://")
    scheme = scheme.lower()
    if separator and scheme in schemes:
        return scheme
    shown = repr(scheme) if separator else "none (not a URL)"
    expected = ", ".join(f"{name}://" for name in schemes)
    raise ValueError(f"{variable}: unsupported scheme {shown}, expected one of {expected}")


#: ``BROKER_URL``'s scheme picks the broker: RabbitMQ, Kafka or Redis (``…s`` = over TLS).
BROKER_SCHEMES = ("amqp", "amqps", "kafka", "redis", "rediss")


def broker_scheme(url: str) -> str:
    """The scheme of a ``BROKER_URL``, lower-cased; ValueError naming the variable if no broker has it.

    The message shows the scheme only, never the URL: it may carry a password.
    """
    scheme = _check_scheme("BROKER_URL", url, BROKER_SCHEMES)
    rest = url.partition("://")[2]
    if not rest.partition("/")[0].rpartition("@")[2]:
        raise ValueError(f"BROKER_URL: no host after {scheme}://")
    return scheme


def _name_variable(message: str) -> str:
    """Rewrite msgspec's ``... - at `$.PORT``` into ``PORT: ...`` for operators."""
    if " - at `$." in message:
        detail, _, location = message.partition(" - at `$.")
        return f"{location.rstrip('`')}: {detail}"
    return message


def _with_secret_key(settings: Settings) -> Settings:
    if len(settings.secret_key) >= SECRET_KEY_MIN_LENGTH:
        return settings
    if settings.is_production:
        raise SettingsError(
            f"Invalid setting: SECRET_KEY: required when APP_ENV=prod, at least {SECRET_KEY_MIN_LENGTH} characters"
        )
    if settings.secret_key:
        raise SettingsError(f"Invalid setting: SECRET_KEY: at least {SECRET_KEY_MIN_LENGTH} characters")
    return msgspec.structs.replace(settings, secret_key=_local_secret_key())


def _local_secret_key() -> str:
    """Outside production, a key generated once and kept in the git-ignored data folder.

    Every worker and every reload reads the same file, so tokens stay valid across them,
    and no key ever has to be committed.
    """
    path = DATA_DIR / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    DATA_DIR.mkdir(exist_ok=True)
    # Written aside then linked into place: linking is atomic and fails if another process
    # won the race, in which case its key is the one everybody uses.
    candidate = DATA_DIR / f".secret_key.{os.getpid()}"
    candidate.write_text(secrets.token_urlsafe(48))
    candidate.chmod(0o600)
    try:
        os.link(candidate, path)
    except FileExistsError:
        pass
    finally:
        candidate.unlink()
    return path.read_text().strip()


if __name__ == "__main__":
    # ``python -m app.infrastructure.config [ROLE]``: the check alone, for a launcher to run
    # before a supervisor (uvicorn with several workers, Taskiq) that would report a refusal as
    # exit 0. It imports only this module: a fifth of a second, not the whole application.
    roles = sys.argv[1:]
    if len(roles) > 1 or not set(roles) <= ROLE_REQUIREMENTS.keys():
        raise SystemExit(f"usage: python -m app.infrastructure.config [{'|'.join(ROLE_REQUIREMENTS)}]")
    load_settings_or_exit(role=roles[0] if roles else None)
