# syntax=docker/dockerfile:1

# ---- builder: resolve the locked dependencies into /app/.venv ---------------------------
FROM python:3.11-slim AS builder

# Pinned so image builds are reproducible; must read uv.lock's format.
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore "uv==${UV_VERSION}"

# Use the image's interpreter (the runtime stage has the same one at the same path, so
# the copied venv works there), compile bytecode once at build time, and copy rather
# than hard-link because the cache mount is a different filesystem from the venv.
ENV UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=/usr/local/bin/python3.11 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock changes, not on every edit.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project

# README.md is the project's declared readme; the build backend refuses to build without it.
COPY README.md ./
COPY app/ app/
# Non-editable, so the venv is self-contained and does not point back at this stage.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable

# ---- runtime --------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV APP_ENV=prod \
    LOG_FORMAT=json \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH="/app/.venv/bin:${PATH}"

RUN groupadd --system app \
    && useradd --system --gid app --no-create-home --home-dir /app --shell /usr/sbin/nologin app

WORKDIR /app

# Left owned by root (readable, not writable, by `app`): the service cannot rewrite its own code.
COPY --from=builder /app/.venv /app/.venv
COPY alembic.ini ./
COPY migrations/ migrations/
COPY app/ app/

USER app

# The API and gRPC, and the /metrics of the worker, the gRPC server and the consumer.
EXPOSE 8000 50051 9100 9101 9102

# One check for every role: it probes, on loopback, whichever server this container runs (the
# API's /health/live on PORT, the gRPC health service on GRPC_PORT, a worker's /metrics on
# JOB_METRICS_PORT), so it holds under a plain `docker run IMAGE python -m app.interfaces.grpc`
# too. The consumer and the scheduler serve nothing: disable the check for them (compose does).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "app.interfaces.healthcheck"]

# Through sh so the metrics directory is made at run time; exec so the server is PID 1 and gets
# SIGTERM. The entry point checks the settings in its own process first (uvicorn's supervisor
# would end with status 0 if its workers refused them), then runs uvicorn on 0.0.0.0:PORT with
# WORKERS processes (default 2 here). Migrations use the same image: `docker run IMAGE alembic
# upgrade head`; so does the gRPC server: `docker run IMAGE python -m app.interfaces.grpc`
# (HOST:GRPC_PORT, see docker-compose.yml). Each start gets a fresh metrics directory, so
# /metrics sums every worker's series. The protocol bounds each connection in time and size, as
# `just serve` does, and as there the app alone decides whose X-Forwarded-For to believe
# (FORWARDED_ALLOW_IPS, default none); see app/interfaces/http/serve.py.
CMD ["sh", "-c", "export PROMETHEUS_MULTIPROC_DIR=$(mktemp -d) HOST=0.0.0.0 WORKERS=${WORKERS:-2} && exec python -m app.interfaces.http.serve"]
