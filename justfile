# Recipes for developing, testing and running the service. `just --list` shows them.
# Each recipe installs what it needs first (uv and the locked dependencies).

set dotenv-load := true
set shell := ["bash", "-euo", "pipefail", "-c"]

host := env("HOST", "127.0.0.1")
port := env("PORT", "8000")
workers := env("WORKERS", "1")
job_workers := env("JOB_WORKERS", "1")
litestar := "uv run --frozen litestar --app app.interfaces.http.app:create_app"

# List the recipes.
default:
    @just --list

# Install the locked dependencies (development ones included) into .venv.
# Bytecode is compiled when something is installed, as the image build does, so that no start
# pays for the compiler (every start would, with PYTHONDONTWRITEBYTECODE set); a sync with
# nothing to do skips it, since compiling goes over the whole environment again (half a second).
sync:
    @command -v uv >/dev/null || python3 -m pip install --quiet uv
    @uv sync --frozen --quiet --check 2>/dev/null || uv sync --frozen --quiet --compile-bytecode

# Serve the API with reload; with nothing configured it runs on embedded SQLite.
dev: sync migrate
    {{litestar}} run --reload --host {{host}} --port {{port}}

# Production server: WORKERS processes, no reload.
serve: sync
    #!/usr/bin/env bash
    set -euo pipefail
    # The workers add up their metrics through files in PROMETHEUS_MULTIPROC_DIR, which
    # must start empty: a fresh directory for every start, removed when the server stops.
    PROMETHEUS_MULTIPROC_DIR="$(mktemp -d "${TMPDIR:-/tmp}/app-metrics.XXXXXX")"
    export PROMETHEUS_MULTIPROC_DIR
    trap 'rm -rf "$PROMETHEUS_MULTIPROC_DIR"' EXIT
    # From the environment `sync` just made: `uv run` would check it again before starting.
    # The protocol bounds each connection: how long a request may take to arrive
    # (HTTP_READ_TIMEOUT_SECONDS), how large its head may be, how long it may idle between
    # requests (HTTP_KEEP_ALIVE_SECONDS); see app/interfaces/http/protocol.py.
    .venv/bin/uvicorn --factory app.interfaces.http.app:create_app --host {{host}} --port {{port}} --workers {{workers}} --no-access-log --proxy-headers --http app.interfaces.http.protocol:BoundedHttpProtocol &
    server=$!
    # This shell stays to clean up, so it passes stop signals on and waits for the server.
    trap 'kill -TERM "$server" 2>/dev/null || true' INT TERM HUP
    status=0
    wait "$server" || status=$?
    while kill -0 "$server" 2>/dev/null; do status=0 && wait "$server" || status=$?; done
    exit "$status"

# The broker consumer: applies messages from app.inbound (needs BROKER_URL: amqp://, kafka:// or redis://).
consumer: sync
    uv run --frozen faststream run --factory app.interfaces.consumer:create_app

# The gRPC server (app.v1 services, health, reflection) on HOST:GRPC_PORT (default 127.0.0.1:50051).
grpc: sync
    uv run --frozen python -m app.interfaces.grpc

# Regenerate the committed gRPC modules in app/interfaces/grpc/v1 from proto/app/v1/*.proto.
proto: sync
    uv run --frozen python -m tools.protogen

# The job worker: runs background jobs from Redis (needs REDIS_URL) in JOB_WORKERS processes.
worker: sync
    #!/usr/bin/env bash
    set -euo pipefail
    # As for `just serve`: the processes add up their metrics in a fresh directory.
    PROMETHEUS_MULTIPROC_DIR="$(mktemp -d "${TMPDIR:-/tmp}/worker-metrics.XXXXXX")"
    export PROMETHEUS_MULTIPROC_DIR
    trap 'rm -rf "$PROMETHEUS_MULTIPROC_DIR"' EXIT
    # Taskiq's supervisor hangs if a second stop signal lands while it handles the first, and a
    # signal to this process group (Ctrl-C, a supervisor, `kill -TERM -PGID`) reaches it directly.
    # So nothing here passes one on: no `uv run` (it forwards SIGTERM), and this shell only waits.
    # Taskiq's own log lines are kept to warnings: the app logs each job's failures itself.
    .venv/bin/taskiq worker app.interfaces.worker:create_worker_broker --workers {{job_workers}} \
        --no-configure-logging --log-level WARNING &
    worker=$!
    trap ':' INT TERM HUP
    status=0
    wait "$worker" || status=$?
    while kill -0 "$worker" 2>/dev/null; do status=0 && wait "$worker" || status=$?; done
    exit "$status"

# The scheduler: enqueues periodic jobs (purge_expired_sessions hourly, send_owed_welcome_emails every ten minutes) to Redis. Run exactly one.
scheduler: sync
    uv run --frozen taskiq scheduler app.interfaces.worker:create_scheduler --no-configure-logging --log-level WARNING --send-timeout 30

# Write the AsyncAPI document of the broker messages (both directions) to docs/asyncapi.json.
asyncapi: sync
    BROKER_URL="${BROKER_URL:-amqp://localhost:5672/}" uv run --frozen faststream docs gen --factory app.interfaces.consumer:create_app --out docs/asyncapi.json

# Upgrade the database to the newest migration.
migrate: sync
    uv run --frozen alembic upgrade head

# Write a new migration from the model changes: just makemigration "add column x".
makemigration MSG: sync
    uv run --frozen alembic revision --autogenerate -m "{{MSG}}"

# Create an admin user, or promote an existing one.
create-admin EMAIL PASSWORD: sync
    {{litestar}} create-admin "{{EMAIL}}" "{{PASSWORD}}"

# Fill the (migrated, PostgreSQL) database with COUNT generated users via COPY.
seed COUNT="1000000": sync
    uv run --frozen python -m bench.seed {{COUNT}}

# Listing latency on the seeded table (medians, p95 and PostgreSQL plans); see docs/benchmarks.md.
bench-listing *ARGS: sync
    uv run --frozen python -m bench.listing {{ARGS}}

# Load test in one run: HTTP under wrk and gRPC GetMe against bare baselines (WORKERS workers), events and jobs; see docs/benchmarks.md.
bench *ARGS: sync
    uv run --frozen python -m bench.run {{ARGS}}

# The load test with a small seed and short rounds, for development.
bench-quick *ARGS: sync
    uv run --frozen python -m bench.run --quick {{ARGS}}

# In-process cost of GET /api/v1/users/me with a Bearer token (--api-key: an X-API-Key), medians; --profile adds a pyinstrument profile.
bench-me *ARGS: sync
    uv run --frozen python -m bench.me {{ARGS}}

# Start-up of `just serve` (to the first 200 from /health/live), several starts and their median; see docs/benchmarks.md.
bench-startup *ARGS: sync
    uv run --frozen python -m bench.startup {{ARGS}}

# Background job throughput and latency through Redis with one worker process; see docs/benchmarks.md.
bench-jobs *ARGS: sync
    uv run --frozen python -m bench.jobs {{ARGS}}

# Event pipeline throughput per stage and commit-to-publish latency (own servers unless configured); see docs/benchmarks.md.
bench-events *ARGS: sync
    uv run --frozen python -m bench.events {{ARGS}}

# Static checks: ruff (lint and format) and mypy --strict.
lint: sync
    uv run --frozen ruff check .
    uv run --frozen ruff format --check .
    uv run --frozen mypy

# Format the code.
fmt: sync
    uv run --frozen ruff check --fix .
    uv run --frozen ruff format .

# The whole suite: static checks, then every test against real servers it starts itself.
test *ARGS: lint
    uv run --frozen pytest {{ARGS}}

# Contract fuzzing of every operation of the OpenAPI document with more examples than `just test` (FUZZ_SEED picks another seed).
fuzz EXAMPLES="200" *ARGS: sync
    FUZZ_MAX_EXAMPLES={{EXAMPLES}} uv run --frozen pytest tests/e2e/test_contract_fuzz.py {{ARGS}}

# The reliability suite alone (fuzzing, outages, attacks, bounds, killed processes), then the figures it recorded; see docs/reliability.md.
reliability *ARGS: sync
    mkdir -p .reports
    uv run --frozen pytest -q --junitxml=.reports/reliability.xml tests/e2e/test_contract_fuzz.py tests/e2e/test_outages.py \
        tests/e2e/test_auth_attacks.py tests/e2e/test_resource_bounds.py tests/e2e/test_database_down.py \
        "tests/e2e/test_consumer.py::test_a_consumer_killed_mid_handler_loses_nothing_and_applies_once" \
        "tests/e2e/test_jobs.py::test_a_job_whose_worker_is_killed_mid_send_runs_again_on_a_new_worker" \
        "tests/e2e/test_jobs.py::test_a_welcome_email_given_up_is_sent_by_the_sweep_once_however_often_it_runs" {{ARGS}}
    uv run --frozen python -m tests.support.figures .reports/reliability.xml

# Start the compose stack (PostgreSQL, Redis, RabbitMQ, migrations, API).
up:
    docker compose up --build -d

# Stop the compose stack.
down:
    docker compose down
