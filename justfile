# Recipes for developing, testing and running the service. `just --list` shows them.
# Each recipe installs what it needs first (uv and the locked dependencies).

set dotenv-load := true
set shell := ["bash", "-euo", "pipefail", "-c"]

host := env("HOST", "127.0.0.1")
port := env("PORT", "8000")
job_workers := env("JOB_WORKERS", "1")
litestar := "uv run --frozen litestar --app app.interfaces.http.app:create_app"

[private]
default:
    @just --list

# Bytecode is compiled when something is installed, as the image build does, so that no start
# pays for the compiler (every start would, with PYTHONDONTWRITEBYTECODE set); a sync with
# nothing to do skips it, since compiling goes over the whole environment again (half a second).
[doc('Install the locked dependencies (development ones included) into .venv.')]
[group('setup')]
sync:
    @command -v uv >/dev/null || python3 -m pip install --quiet uv
    @uv sync --frozen --quiet --check 2>/dev/null || uv sync --frozen --quiet --compile-bytecode

# Serve the API with reload on HOST:PORT; with nothing configured it runs on embedded SQLite.
# The same server and connection protocol as `just serve` (see there), reloading on changes.
[group('run')]
[no-exit-message]
dev: sync migrate
    @echo "API docs: http://{{host}}:{{port}}/schema (Swagger UI: /schema/swagger, ReDoc: /schema/redoc)"
    @.venv/bin/uvicorn --factory app.interfaces.http.app:create_app --reload --host {{host}} --port {{port}} \
        --no-proxy-headers --http app.interfaces.http.protocol:BoundedHttpProtocol

# Serve the API for production: WORKERS processes, no reload.
[group('run')]
[no-exit-message]
serve: sync
    #!/usr/bin/env bash
    set -euo pipefail
    # The workers add up their metrics through files in PROMETHEUS_MULTIPROC_DIR, which
    # must start empty: a fresh directory for every start, removed when the server stops.
    PROMETHEUS_MULTIPROC_DIR="$(mktemp -d "${TMPDIR:-/tmp}/app-metrics.XXXXXX")"
    export PROMETHEUS_MULTIPROC_DIR
    trap 'rm -rf "$PROMETHEUS_MULTIPROC_DIR"' EXIT
    # From the environment `sync` just made: `uv run` would check it again before starting.
    # The entry point checks the settings first, in its own process (uvicorn's supervisor ends
    # with status 0 when its workers refuse to start), then runs uvicorn on HOST:PORT with
    # WORKERS processes and the protocol that bounds each connection (HTTP_READ_TIMEOUT_SECONDS,
    # the size of a request head, HTTP_KEEP_ALIVE_SECONDS; malformed requests answered with
    # problems): see app/interfaces/http/serve.py. The app believes X-Forwarded-For only from
    # the proxies in FORWARDED_ALLOW_IPS (app/interfaces/http/forwarded.py): uvicorn's own
    # handling, which trusts 127.0.0.1 by default, is off.
    .venv/bin/python -m app.interfaces.http.serve &
    server=$!
    # This shell stays to clean up, so it passes stop signals on and waits for the server.
    trap 'kill -TERM "$server" 2>/dev/null || true' INT TERM HUP
    status=0
    wait "$server" || status=$?
    while kill -0 "$server" 2>/dev/null; do status=0 && wait "$server" || status=$?; done
    exit "$status"

# Run the broker consumer: applies messages from app.inbound (needs BROKER_URL: amqp://, kafka:// or redis://); metrics on HOST:CONSUMER_METRICS_PORT.
[group('run')]
[no-exit-message]
consumer: sync
    @uv run --frozen faststream run --factory app.interfaces.consumer:create_app

# Run the gRPC server (app.v1 services, health, reflection) on HOST:GRPC_PORT (default 127.0.0.1:50051); metrics on HOST:GRPC_METRICS_PORT.
[group('run')]
[no-exit-message]
grpc: sync
    @uv run --frozen python -m app.interfaces.grpc

# Regenerate the committed gRPC modules in app/interfaces/grpc/v1 from proto/app/v1/*.proto.
[group('generate')]
proto: sync
    uv run --frozen python -m tools.protogen

# Run the job worker: background jobs from Redis (needs REDIS_URL) in JOB_WORKERS processes.
[group('run')]
[no-exit-message]
worker: sync
    #!/usr/bin/env bash
    set -euo pipefail
    # Settings first: Taskiq's supervisor exits 0 however its workers end, so a refusal is said here.
    .venv/bin/python -m app.infrastructure.config worker
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

# Run the scheduler: enqueues periodic jobs (purge_expired_sessions hourly, send_owed_welcome_emails every ten minutes) to Redis. Run exactly one.
[group('run')]
[no-exit-message]
scheduler: sync
    @uv run --frozen taskiq scheduler app.interfaces.worker:create_scheduler --no-configure-logging --log-level WARNING --send-timeout 30

# Vendor the API docs' browser bundles (Swagger UI, ReDoc) at their pinned versions, checked against their hashes (needs npm).
[group('generate')]
docs-ui: sync
    uv run --frozen python -m tools.docs_ui

# Write the AsyncAPI document of the broker messages (both directions) to docs/asyncapi.json.
[group('generate')]
asyncapi: sync
    BROKER_URL="${BROKER_URL:-amqp://localhost:5672/}" uv run --frozen faststream docs gen --factory app.interfaces.consumer:create_app --out docs/asyncapi.json

# Upgrade the database to the newest migration.
[group('database')]
[no-exit-message]
migrate: sync
    @uv run --frozen alembic upgrade head

# Write a new migration from the model changes: just makemigration "add column x".
[group('database')]
makemigration MSG: sync
    uv run --frozen alembic revision --autogenerate -m "{{MSG}}"

# Create an admin user, or promote an existing one; the password is prompted for (or read from stdin).
[group('database')]
[no-exit-message]
create-admin EMAIL: sync
    @{{litestar}} create-admin "{{EMAIL}}"

# Add demo accounts (an admin, a few users, an organization of them; again is harmless) and print how to sign in.
[group('database')]
[no-exit-message]
demo: sync migrate
    @{{litestar}} demo

# Fill the (migrated, PostgreSQL) database with COUNT generated users via COPY.
[group('bench')]
seed COUNT="1000000": sync
    uv run --frozen python -m bench.seed {{COUNT}}

# Listing latency on the seeded table (medians, p95 and PostgreSQL plans); see docs/benchmarks.md.
[group('bench')]
bench-listing *ARGS: sync
    uv run --frozen python -m bench.listing {{ARGS}}

# Fill the (migrated, PostgreSQL) database with TASKS generated tasks in ORGANIZATIONS organizations (Zipf-sized) via COPY.
[group('bench')]
seed-tasks TASKS="1000000" ORGANIZATIONS="1000": sync
    uv run --frozen python -m bench.seed_tasks {{TASKS}} {{ORGANIZATIONS}}

# Tasks listing latency in the largest seeded organization, row-level security on and off (plans too); see docs/benchmarks.md.
[group('bench')]
bench-task-listing *ARGS: sync
    uv run --frozen python -m bench.task_listing {{ARGS}}

# Load test in one run: HTTP under wrk and gRPC GetMe against bare baselines (WORKERS workers), events and jobs; see docs/benchmarks.md.
[group('bench')]
[positional-arguments]
bench *ARGS: sync
    uv run --frozen python -m bench.run "$@"

# The load test with a small seed and short rounds, for development.
[group('bench')]
[positional-arguments]
bench-quick *ARGS: sync
    uv run --frozen python -m bench.run --quick "$@"

# In-process cost of GET /api/v1/users/me with a Bearer token (--api-key: an X-API-Key), medians; --profile adds a pyinstrument profile.
[group('bench')]
bench-me *ARGS: sync
    uv run --frozen python -m bench.me {{ARGS}}

# Start-up of `just serve` (to the first 200 from /health/live), several starts and their median; see docs/benchmarks.md.
[group('bench')]
bench-startup *ARGS: sync
    uv run --frozen python -m bench.startup {{ARGS}}

# Background job throughput and latency through Redis with one worker process; see docs/benchmarks.md.
[group('bench')]
bench-jobs *ARGS: sync
    uv run --frozen python -m bench.jobs {{ARGS}}

# Event pipeline throughput per stage and commit-to-publish latency (own servers unless configured); see docs/benchmarks.md.
[group('bench')]
bench-events *ARGS: sync
    uv run --frozen python -m bench.events {{ARGS}}

# Static checks: ruff (lint and format) and mypy --strict.
[group('check')]
lint: sync
    uv run --frozen ruff check .
    uv run --frozen ruff format --check .
    uv run --frozen mypy

# The lock's hashes are checked and nothing is installed; the full report goes to .reports/pip-audit.txt.
# Strict: a dependency whose vulnerability data cannot be had (no network, a mirror without PyPI's
# JSON API) fails the audit, so that it never passes without having checked anything. For that
# reason it is not part of `just lint` or `just test`, which must pass offline; CI runs it apart.
[doc('Audit the locked dependencies (all groups) for known vulnerabilities with pip-audit (needs PyPI vulnerability data).')]
[group('check')]
audit: sync
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p .reports
    rm -f .reports/pip-audit.txt
    uv export --frozen --all-groups --format requirements-txt --no-emit-project --quiet -o .reports/requirements.txt
    if ! uv run --frozen pip-audit --disable-pip --require-hashes -r .reports/requirements.txt \
        --strict --progress-spinner off -o .reports/pip-audit.txt; then
        if [[ -f .reports/pip-audit.txt ]]; then cat .reports/pip-audit.txt; fi
        exit 1
    fi

# Format the code.
[group('check')]
fmt: sync
    uv run --frozen ruff check --fix .
    uv run --frozen ruff format .

# Coverage is of app/; its floor is `fail_under` in pyproject.toml. The tests are spread over
# one pytest process per core, four at most, each with throwaway servers of its own; `-n 0`
# among the arguments runs them in this process alone.
[doc('Run the static checks, then every test against real servers it starts itself, with coverage.')]
[group('check')]
test *ARGS: lint
    uv run --frozen pytest --numprocesses auto --maxprocesses 4 --cov --cov-report=term:skip-covered {{ARGS}}

# Contract fuzzing of every operation of the OpenAPI document with more examples than `just test` (FUZZ_SEED picks another seed).
[group('check')]
fuzz EXAMPLES="200" *ARGS: sync
    FUZZ_MAX_EXAMPLES={{EXAMPLES}} uv run --frozen pytest tests/e2e/test_contract_fuzz.py {{ARGS}}

# The reliability suite alone (fuzzing, outages, attacks, bounds, killed processes), then the figures it recorded; see docs/reliability.md.
[group('check')]
reliability *ARGS: sync
    mkdir -p .reports
    uv run --frozen pytest -q --junitxml=.reports/reliability.xml tests/e2e/test_contract_fuzz.py tests/e2e/test_outages.py \
        tests/e2e/test_connection_errors.py tests/e2e/test_grpc_bad_input.py tests/e2e/test_forwarded_for.py \
        tests/e2e/test_auth_attacks.py tests/e2e/test_resource_bounds.py tests/e2e/test_database_down.py \
        "tests/e2e/test_consumer.py::test_a_consumer_killed_mid_handler_loses_nothing_and_applies_once" \
        "tests/e2e/test_jobs.py::test_a_job_whose_worker_is_killed_mid_send_runs_again_on_a_new_worker" \
        "tests/e2e/test_jobs.py::test_a_welcome_email_given_up_is_sent_by_the_sweep_once_however_often_it_runs" {{ARGS}}
    uv run --frozen python -m tests.support.figures .reports/reliability.xml

# Start everything in docker compose: PostgreSQL, Redis, RabbitMQ, migrations, API, gRPC, consumer, worker, scheduler.
[group('docker')]
up:
    docker compose up --build -d

# Start only the backing servers in docker compose (PostgreSQL, Redis, RabbitMQ, Mailpit) for local processes.
[group('docker')]
infra:
    docker compose --profile infra up -d postgres redis rabbitmq mailpit
    @echo "Settings for .env: DATABASE_URL=postgresql+asyncpg://app:app@127.0.0.1:5432/app"
    @echo "  REDIS_URL=redis://127.0.0.1:6379/0 BROKER_URL=amqp://guest:guest@127.0.0.1:5672/ SMTP_URL=smtp://127.0.0.1:1025"
    @echo "Mailpit (caught emails): http://127.0.0.1:8025"

# Stop the compose stack (and the backing servers of `just infra`).
[group('docker')]
down:
    docker compose --profile infra down
