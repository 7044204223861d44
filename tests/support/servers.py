"""Throwaway backing servers for the test suite.

``just test`` must run against *real* PostgreSQL, Redis and RabbitMQ, and when no
settings name one, against servers it starts and stops itself. Each context manager
here starts one private server on free loopback ports in a fresh temp directory, yields
its URL (or a handle carrying it) and removes every trace on exit, even when the body
raised.

A server that cannot be started is a loud failure (``RuntimeError``), never a skip: a
suite that silently skips its database tests proves nothing.

Each server is built from the same helpers: :func:`_server_account`,
:func:`_throwaway_dir`, :func:`_free_port`, :func:`_run` and :func:`_wait_for_tcp`.

Self-check: ``python -m tests.support.servers``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import aiormq
import asyncpg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = [
    "PostgresServer",
    "RabbitServer",
    "RedisServer",
    "throwaway_postgres",
    "throwaway_rabbitmq",
    "throwaway_redis",
]

STARTUP_TIMEOUT_SECONDS = 30.0
"""How long a server may take to accept connections before we give up and show its log."""

_COMMAND_TIMEOUT_SECONDS = 120.0
"""Upper bound for one helper command (initdb, pg_ctl …) so a wedged tool cannot hang CI."""

_FALLBACK_SERVER_USER = "apptest"
"""System account created when running as root on a machine without a ``postgres`` user."""

_PORT_ATTEMPTS = 3
"""A port found free can be taken by someone else before the server binds it: retry."""

_LOG_TAIL_CHARS = 4000

_STOP_TIMEOUT_SECONDS = 10.0
"""How long a killed server process may take to be reaped before we give up on it."""


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True, slots=True)
class _Account:
    """The OS account a server runs as; ``name`` is None when that is the current user."""

    name: str | None
    uid: int
    gid: int


def _which_admin_tool(name: str) -> str | None:
    """Find an admin tool; sbin directories are often missing from a non-login PATH."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def _server_account(preferred: str) -> _Account:
    """Pick the account to run a server as.

    PostgreSQL refuses to run as root, and CI runs as root, so root drops privileges to
    ``preferred`` if that account exists, else to a system account we create. Anyone
    else simply runs the server as themselves.
    """
    if os.geteuid() != 0:
        return _Account(name=None, uid=os.getuid(), gid=os.getgid())
    for name in (preferred, _FALLBACK_SERVER_USER):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return _Account(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    useradd = _which_admin_tool("useradd")
    if useradd is None:
        raise RuntimeError(
            f"running as root, no {preferred!r} or {_FALLBACK_SERVER_USER!r} account exists "
            "and useradd is not available to create one; servers cannot run as root"
        )
    created = subprocess.run(
        [
            useradd,
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            _FALLBACK_SERVER_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        # Parallel test workers may race to create it; whoever lost still finds it here.
        entry = pwd.getpwnam(_FALLBACK_SERVER_USER)
    except KeyError:
        raise RuntimeError(
            f"could not create system user {_FALLBACK_SERVER_USER!r}: {created.stderr.strip()}"
        ) from None
    return _Account(name=_FALLBACK_SERVER_USER, uid=entry.pw_uid, gid=entry.pw_gid)


def _as_account(account: _Account, argv: Sequence[str]) -> list[str]:
    """Prefix ``argv`` so it runs as ``account`` (a no-op when that is the current user)."""
    if account.name is None:
        return list(argv)
    runuser = _which_admin_tool("runuser")
    if runuser is not None:
        return [runuser, "-u", account.name, "--", *argv]
    setpriv = _which_admin_tool("setpriv")
    if setpriv is not None:
        return [
            setpriv,
            f"--reuid={account.uid}",
            f"--regid={account.gid}",
            "--init-groups",
            *argv,
        ]
    raise RuntimeError("running as root but neither runuser nor setpriv is available to drop privileges")


def _server_env() -> dict[str, str]:
    """Build the environment for server tools: ours, minus anything that could redirect them.

    A developer's ``PGDATA``, ``PGPORT`` or ``PGHOST`` must not point our tools at
    their own cluster, and ``LC_ALL=C`` keeps start-up independent of installed locales.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _run(
    account: _Account,
    argv: Sequence[str],
    *,
    cwd: Path,
    stdin: str | None = None,
    timeout: float = _COMMAND_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run one tool as ``account`` and raise with its full output if it fails.

    ``cwd`` is the throwaway directory because the unprivileged account may not be
    allowed to enter the caller's working directory.
    """
    command = _as_account(account, argv)
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            env=_server_env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{' '.join(command)} did not finish within {timeout:.0f}s") from exc
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with status {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}--- stderr ---\n{result.stderr}"
        )
    return result


@contextlib.contextmanager
def _throwaway_dir(prefix: str, account: _Account) -> Iterator[Path]:
    """Yield a fresh private directory owned by ``account``; delete it on exit whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if account.name is not None:
            os.chown(path, account.uid, account.gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (the kernel picks it for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_tcp(port: int, deadline: float) -> bool:
    """Poll until something accepts TCP connections on 127.0.0.1:``port`` or time runs out."""
    while True:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1.0),
        ):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _tail(path: Path) -> str:
    """Return the end of a server log for error messages; never raise."""
    try:
        return path.read_text(errors="replace")[-_LOG_TAIL_CHARS:]
    except OSError as exc:
        return f"<no log at {path}: {exc}>"


# ------------------------------------------------------------------------ PostgreSQL

_PG_TOOLS = ("initdb", "pg_ctl", "postgres")


def _has_pg_tools(directory: Path) -> bool:
    return all(os.access(directory / tool, os.X_OK) for tool in _PG_TOOLS)


def _postgres_bin_dir() -> Path:
    """Where initdb, pg_ctl and postgres live: ``PATH`` first, then Debian's layout.

    Debian does not put the server binaries on ``PATH``; it installs them under
    ``/usr/lib/postgresql/<major>/bin``, and the newest major is the best guess. The
    ``PATH`` hit is resolved through symlinks because the tools must come from one
    installation.
    """
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is not None:
        directory = Path(pg_ctl).resolve().parent
        if _has_pg_tools(directory):
            return directory

    def major(directory: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", directory.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=major, reverse=True)
    for directory in candidates:
        if _has_pg_tools(directory):
            return directory
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH nor in "
        "/usr/lib/postgresql/*/bin; install the PostgreSQL server (e.g. apt-get install "
        "postgresql-15) or set DATABASE_URL to an existing server"
    )


def _conf_string(value: str) -> str:
    """Quote a value for postgresql.conf."""
    return "'" + value.replace("'", "''") + "'"


class PostgresServer:
    """A private PostgreSQL cluster that a test may :meth:`stop` and :meth:`start` again.

    It keeps its port, its password and its data directory across restarts, so clients
    configured with :attr:`url` reconnect to the same database once it is back, holding
    what it had committed: that is what outage tests need. Made by
    :func:`throwaway_postgres`, which also guarantees it is stopped and its directory
    removed.
    """

    def __init__(
        self,
        *,
        bin_dir: Path,
        account: _Account,
        root: Path,
        user: str,
        database: str,
        startup_timeout: float,
        crash_safe: bool,
    ) -> None:
        """Create the cluster in ``root`` (owned by ``account``) with its database; nothing runs yet."""
        self._pg_ctl = str(bin_dir / "pg_ctl")
        self._account = account
        self._root = root
        self._data_dir = root / "data"
        self._log_file = root / "server.log"
        self._user = user
        self._database = database
        self._startup_timeout = startup_timeout
        self._password = secrets.token_urlsafe(24)  # URL-safe: needs no escaping in the DSN.
        self._port: int | None = None
        self._initialise(crash_safe=crash_safe)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the PostgreSQL server has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        """``postgresql+asyncpg://USER:PASSWORD@127.0.0.1:PORT/DBNAME``; the same after a restart."""
        return f"postgresql+asyncpg://{self._user}:{self._password}@127.0.0.1:{self.port}/{self._database}"

    @property
    def running(self) -> bool:
        """Whether the postmaster holds its data directory (it removes its pid file when it exits)."""
        return (self._data_dir / "postmaster.pid").exists()

    def start(self) -> None:
        """Start the server and return once it accepts TCP connections.

        The first start picks a free port (retrying if another process takes it first);
        later starts reuse that port, and fail loudly if it has been taken meanwhile.
        """
        if not self.running:
            self._port = _start_postgres(
                self._account,
                pg_ctl=self._pg_ctl,
                data_dir=self._data_dir,
                log_file=self._log_file,
                cwd=self._root,
                startup_timeout=self._startup_timeout,
                port=self._port,
            )

    def stop(self, *, graceful: bool = False) -> None:
        """Stop the server and wait until it has exited; a no-op when stopped. Its data stays.

        By default every server process quits at once (``pg_ctl stop -m immediate``), as a
        crash would: connected clients see the outage immediately, and the next start
        recovers from the write-ahead log. With ``graceful`` it waits for nothing but
        checkpoints first (``-m fast``), as an operator's stop would.
        """
        if self.running:
            self.resume()  # A frozen server could not act on the request to stop.
            mode = "fast" if graceful else "immediate"
            _run(self._account, [self._pg_ctl, "stop", "-D", str(self._data_dir), "-m", mode, "-w"], cwd=self._root)

    def pause(self) -> None:
        """Freeze every server process (SIGSTOP): connections stay open and nothing answers, as when a database hangs.

        The postmaster first, so that it forks no new backend meanwhile, then each of its
        children: the backends serving open connections and the background processes.
        """
        self._signal_each(self._processes(), signal.SIGSTOP)

    def resume(self) -> None:
        """Undo :meth:`pause` (children first, the postmaster last); harmless when not paused."""
        self._signal_each(reversed(self._processes()), signal.SIGCONT)

    @staticmethod
    def _signal_each(pids: Iterable[int], signum: signal.Signals) -> None:
        """Signal each process; a child that ended after it was listed (a backend whose client left) is skipped."""
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _processes(self) -> list[int]:
        """The postmaster's pid, then its children's (read from ``/proc``)."""
        postmaster = int((self._data_dir / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError):
                # "pid (comm) state ppid …": comm may hold spaces, so split after its ")".
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    def _initialise(self, *, crash_safe: bool) -> None:
        bin_dir = Path(self._pg_ctl).parent
        socket_dir = self._root / "sock"
        password_file = self._root / "pwfile"

        socket_dir.mkdir(mode=0o700)
        password_file.write_text(self._password + "\n")
        password_file.chmod(0o600)
        if self._account.name is not None:
            for path in (socket_dir, password_file):
                os.chown(path, self._account.uid, self._account.gid)

        _run(
            self._account,
            [
                str(bin_dir / "initdb"),
                f"--pgdata={self._data_dir}",
                f"--username={self._user}",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",  # The cluster is deleted afterwards; flushing it is wasted time.
            ],
            cwd=self._root,
        )
        password_file.unlink()

        settings = {
            "listen_addresses": _conf_string("127.0.0.1"),
            "unix_socket_directories": _conf_string(str(socket_dir)),
            # Nothing is flushed to disk: what a killed server wrote is still in the OS's cache.
            "fsync": "off",
            # Off, a commit is acknowledged before its WAL record leaves the server's memory,
            # and a server killed just then forgets it: fine for speed, not for outage tests.
            "synchronous_commit": "on" if crash_safe else "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": _conf_string("128MB"),
        }
        # Appending keeps the file's owner; later lines override initdb's defaults.
        with (self._data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# throwaway test server\n")
            conf.writelines(f"{name} = {value}\n" for name, value in settings.items())

        if self._database != "postgres":  # initdb already made that one.
            _create_database(self._account, bin_dir, self._data_dir, self._database, cwd=self._root)


@contextlib.contextmanager
def throwaway_postgres(
    *,
    user: str = "app",
    database: str = "app",
    startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    crash_safe: bool = False,
) -> Iterator[PostgresServer]:
    """Start a private PostgreSQL server and yield its handle (``.url``, ``.stop()``, ``.start()``).

    The URL has the form ``postgresql+asyncpg://USER:PASSWORD@127.0.0.1:PORT/DBNAME``.
    The server listens on 127.0.0.1 only, requires a generated password (SCRAM) and
    trades durability for speed (``fsync=off`` …), which is right for data that is
    deleted minutes later. With ``crash_safe`` every commit it acknowledged survives the
    server being killed (not the machine crashing), which is what a test that stops it
    and then looks for acknowledged writes needs. On exit it is stopped with ``pg_ctl
    stop -m immediate`` and its directory removed, even if the body raised.
    """
    bin_dir = _postgres_bin_dir()
    account = _server_account(preferred="postgres")
    with _throwaway_dir("throwaway-postgres-", account) as root:
        server = PostgresServer(
            bin_dir=bin_dir,
            account=account,
            root=root,
            user=user,
            database=database,
            startup_timeout=startup_timeout,
            crash_safe=crash_safe,
        )
        try:
            server.start()
            yield server
        finally:
            with contextlib.suppress(RuntimeError):
                server.stop()


def _create_database(account: _Account, bin_dir: Path, data_dir: Path, database: str, *, cwd: Path) -> None:
    """Create ``database`` before the server starts.

    Single-user mode needs only the server binary (Debian ships createdb and psql in a
    separate package). It exits 0 even when the statement fails, hence the ERROR check.
    """
    quoted = '"' + database.replace('"', '""') + '"'
    result = _run(
        account,
        [str(bin_dir / "postgres"), "--single", "-D", str(data_dir), "postgres"],
        cwd=cwd,
        stdin=f"CREATE DATABASE {quoted}\n",
    )
    if "ERROR:" in result.stderr or "FATAL:" in result.stderr:
        msg = f"could not create database {database!r}:\n{result.stderr}"
        raise RuntimeError(msg)


def _start_postgres(
    account: _Account,
    *,
    pg_ctl: str,
    data_dir: Path,
    log_file: Path,
    cwd: Path,
    startup_timeout: float,
    port: int | None,
) -> int:
    """Start the cluster and return its port once it accepts connections.

    With no ``port`` it picks a free one; that is only known to be free when we looked,
    so if another process took it first (the server cannot bind) we try again with a new
    one. A given ``port`` (a restart) is tried once: clients expect the server there.
    """
    deadline = time.monotonic() + startup_timeout
    attempt = 0
    while True:
        attempt += 1
        chosen = _free_port() if port is None else port
        remaining = max(1, int(deadline - time.monotonic()))
        command = [pg_ctl, "start", "-D", str(data_dir), "-l", str(log_file)]
        command += ["-w", "-t", str(remaining), "-o", f"-p {chosen}"]
        try:
            _run(account, command, cwd=cwd, timeout=remaining + 10)
        except RuntimeError as exc:
            log = _tail(log_file)
            port_taken = "could not bind" in log
            if port is None and port_taken and attempt < _PORT_ATTEMPTS and time.monotonic() < deadline:
                log_file.write_text("")  # Keep the next failure's log unambiguous.
                continue
            msg = f"PostgreSQL did not start: {exc}\n--- server log ---\n{log}"
            raise RuntimeError(msg) from exc
        if _wait_for_tcp(chosen, deadline):
            return chosen
        msg = (
            f"PostgreSQL did not accept TCP connections on 127.0.0.1:{chosen} within "
            f"{startup_timeout:.0f}s\n--- server log ---\n{_tail(log_file)}"
        )
        raise RuntimeError(msg)


# ----------------------------------------------------------------------------- Redis


def _redis_server_binary() -> str:
    found = _which_admin_tool("redis-server")
    if found is None:
        raise RuntimeError(
            "redis-server was not found on PATH (nor in /usr/sbin, /sbin); install it "
            "(e.g. apt-get install redis-server) or set REDIS_URL to an existing server"
        )
    return found


def _redis_answers(port: int, password: str) -> bool:
    """One authenticated PING, with no retries: does *our* server answer on ``port``?"""
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        password=password,
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class RedisServer:
    """A private Redis server that a test may :meth:`stop` and :meth:`start` again.

    It keeps its port across restarts, so clients configured with :attr:`url` reconnect
    to the same server once it is back: that is what outage tests need. Made by
    :func:`throwaway_redis`, which also guarantees it is stopped and its directory removed.
    """

    def __init__(self, *, binary: str, root: Path, startup_timeout: float, persistent: bool) -> None:
        self._binary = binary
        self._root = root
        self._log_file = root / "server.log"
        self._startup_timeout = startup_timeout
        self._persistent = persistent
        self._password = secrets.token_urlsafe(24)  # URL-safe: needs no escaping in the URL.
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        # The password goes in a private file rather than on the command line (``ps``).
        self._config_file = root / "redis.conf"
        self._config_file.write_text(f"requirepass {self._password}\n")
        self._config_file.chmod(0o600)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the Redis server has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        """``redis://:PASSWORD@127.0.0.1:PORT/0``; the same before and after a restart."""
        return f"redis://:{self._password}@127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and return once it answers an authenticated PING.

        The first start picks a free port (retrying if another process takes it first);
        later starts reuse that port, and fail loudly if it has been taken meanwhile.
        """
        if self.running:
            return
        deadline = time.monotonic() + self._startup_timeout
        if self._port is not None:
            self._launch(self._port, deadline)
            return
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = _free_port()
            try:
                self._launch(port, deadline)
            except _PortTakenError:
                if attempt == _PORT_ATTEMPTS or time.monotonic() >= deadline:
                    raise
                continue
            self._port = port
            return

    def stop(self) -> None:
        """Kill the server at once, as a crash would, and reap it; a no-op when stopped.

        A kill makes connected clients see the outage immediately. Without persistence the
        next start is empty; with it, the next start reads back the append-only file, which
        Redis writes before it answers (unless the disk lags), and which a killed process
        leaves complete: the kernel has what was written.
        """
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        try:
            process.wait(timeout=_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"redis-server (pid {process.pid}) did not exit after SIGKILL") from exc

    def _launch(self, port: int, deadline: float) -> None:
        log_start = self._log_file.stat().st_size if self._log_file.exists() else 0
        command = [
            self._binary,
            str(self._config_file),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",  # No snapshots: the append-only file, when there is one, is the persistence.
            "--appendonly",
            "yes" if self._persistent else "no",
            "--appendfsync",
            "everysec",  # What production runs (see docs/architecture.md).
            "--dir",
            str(self._root),
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        with self._log_file.open("ab") as log:
            process = subprocess.Popen(
                command,
                cwd=self._root,
                env=_server_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._process = process
        while True:
            if process.poll() is not None:
                self._process = None
                log_text = _tail(self._log_file)
                new_output = self._log_file.read_bytes()[log_start:].decode(errors="replace")
                if "Address already in use" in new_output:
                    raise _PortTakenError(
                        f"redis-server could not bind 127.0.0.1:{port}, another process holds it\n"
                        f"--- server log ---\n{log_text}"
                    )
                msg = (
                    f"redis-server exited with status {process.returncode} while starting on "
                    f"127.0.0.1:{port}\n--- server log ---\n{log_text}"
                )
                raise RuntimeError(msg)
            if _redis_answers(port, self._password):
                return
            if time.monotonic() >= deadline:
                self.stop()
                msg = (
                    f"redis-server did not answer on 127.0.0.1:{port} within "
                    f"{self._startup_timeout:.0f}s\n--- server log ---\n{_tail(self._log_file)}"
                )
                raise RuntimeError(msg)
            time.sleep(0.05)


class _PortTakenError(RuntimeError):
    """The server could not bind its port: someone took it between our check and its bind."""


@contextlib.contextmanager
def throwaway_redis(
    *, startup_timeout: float = STARTUP_TIMEOUT_SECONDS, persistent: bool = False
) -> Iterator[RedisServer]:
    """Start a private Redis server and yield its handle (``.url``, ``.stop()``, ``.start()``).

    The server listens on 127.0.0.1 only and requires a generated password. By default it
    persists nothing (no RDB snapshots, no AOF), so a restart empties it; ``persistent``
    gives it an append-only file, as production must have, so that what it held comes back
    after a restart. Unlike PostgreSQL, Redis is happy to run as root, so it runs as the
    current user. On exit it is killed and its directory removed, even if the body raised
    or left it stopped.
    """
    binary = _redis_server_binary()
    account = _Account(name=None, uid=os.getuid(), gid=os.getgid())
    with _throwaway_dir("throwaway-redis-", account) as root:
        server = RedisServer(binary=binary, root=root, startup_timeout=startup_timeout, persistent=persistent)
        try:
            server.start()
            yield server
        finally:
            server.stop()


# -------------------------------------------------------------------------- RabbitMQ

RABBITMQ_STARTUP_TIMEOUT_SECONDS = 60.0
"""RabbitMQ boots an Erlang VM and its database: several seconds, more on a busy machine."""

_RABBITMQ_USER = "app"

_RABBITMQ_GRACEFUL_STOP_SECONDS = 30.0
"""How long a clean stop may take before the node is killed after all."""

_DEBIAN_RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
"""The real start script on Debian; ``/usr/sbin/rabbitmq-server`` is a wrapper that switches
to the ``rabbitmq`` account and the system node's directories, which we must not touch."""

_PORT_TAKEN_MARKERS = ("eaddrinuse", "Address already in use")


def _rabbitmq_server_script() -> str:
    candidates = [str(_DEBIAN_RABBITMQ_SERVER), _which_admin_tool("rabbitmq-server")]
    for candidate in candidates:
        if candidate is None or not os.access(candidate, os.X_OK):
            continue
        if Path(candidate).resolve().name == "rabbitmq-script-wrapper":
            continue  # Debian's wrapper, see above; its target is the first candidate.
        return candidate
    raise RuntimeError(
        "rabbitmq-server was not found (looked in /usr/lib/rabbitmq/bin, on PATH and in /usr/sbin, "
        "/sbin); install it (e.g. apt-get install rabbitmq-server) or set BROKER_URL to an existing "
        "amqp:// server"
    )


def _epmd_binary() -> str:
    found = shutil.which("epmd", path=f"{os.environ.get('PATH', '')}:/usr/lib/erlang/bin")
    if found is None:
        raise RuntimeError(
            "epmd (Erlang's port mapper, part of the Erlang runtime RabbitMQ needs) was not found on "
            "PATH nor in /usr/lib/erlang/bin; install Erlang (apt-get install rabbitmq-server pulls it in)"
        )
    return found


def _rabbitmq_answers(url: str) -> bool:
    """One AMQP connection as our user, opened and closed: is *our* node serving on ``url``?

    It runs on a thread of its own because callers may be inside a running event loop (an
    async test restarting the node), where ``asyncio.run`` is not allowed.
    """

    async def connect() -> None:
        connection = await aio_pika.connect(url, timeout=1.0)
        await connection.close()

    def attempt() -> bool:
        try:
            asyncio.run(connect())
        except Exception:  # Refused, reset, timed out, still booting: all mean "not yet".
            return False
        return True

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(attempt).result()


def _live_group_members(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are still running (zombies excluded: they hold nothing)."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():  # No procfs (macOS): ask the kernel instead.
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for stat_file in proc.glob("[0-9]*/stat"):
        try:
            stat = stat_file.read_text()
        except OSError:
            continue  # It exited while we looked.
        # "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat_file.parent.name))
    return members


def _end_process_group(process: subprocess.Popen[bytes], name: str, *, grace: float = 0.0) -> None:
    """Stop a process started with ``start_new_session=True`` and everything in its group.

    With ``grace`` the leader first gets SIGTERM and that long to exit cleanly; then the
    whole group is killed. Returns once no process of the group runs any more, so the
    ports it held are free again.
    """
    if grace > 0 and process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=_STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{name} (pid {process.pid}) did not exit after SIGKILL") from exc
    deadline = time.monotonic() + _STOP_TIMEOUT_SECONDS
    while members := _live_group_members(process.pid):
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{name}: processes {members} of group {process.pid} survived SIGKILL")
        time.sleep(0.02)


@dataclass(frozen=True, slots=True)
class _RabbitPorts:
    amqp: int
    dist: int
    epmd: int


def _distinct_free_ports() -> _RabbitPorts:
    ports: set[int] = set()
    while len(ports) < 3:
        ports.add(_free_port())
    amqp, dist, epmd = sorted(ports)
    return _RabbitPorts(amqp=amqp, dist=dist, epmd=epmd)


class RabbitServer:
    """A private RabbitMQ node that a test may :meth:`stop` and :meth:`start` again.

    It keeps its node name, its ports and its data across restarts, so durable queues and
    persistent messages survive, and clients configured with :attr:`url` reconnect to the
    same node once it is back. :meth:`pause` and :meth:`resume` make it hang instead. It
    runs its own ``epmd`` on a private port, so it neither needs nor disturbs a system
    node. Made by :func:`throwaway_rabbitmq`, which also guarantees it is stopped and its
    directory removed.
    """

    def __init__(self, *, script: str, epmd: str, root: Path, startup_timeout: float) -> None:
        self._script = script
        self._epmd = epmd
        self._root = root
        self._startup_timeout = startup_timeout
        self._node = f"rabbit-{secrets.token_hex(6)}@localhost"
        self._password = secrets.token_hex(24)  # Hex: needs no escaping in the URL nor the config.
        self._ports: _RabbitPorts | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._epmd_process: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._output_file = root / "output.log"  # The start script's and epmd's own output.
        self._log_dir = root / "log"
        self._config_file = root / "rabbitmq.conf"
        # The password goes in a private file rather than in the environment or on a command line.
        self._config_file.write_text(
            "# throwaway test node\n"
            f"default_user = {_RABBITMQ_USER}\n"
            f"default_pass = {self._password}\n"
            "default_user_tags.administrator = true\n"
            "default_vhost = /\n"
            "log.console = false\n"
            "log.file.level = info\n"
            # A nearly full CI disk must not raise the disk alarm, which blocks every publisher.
            "disk_free_limit.absolute = 1MB\n"
        )
        self._config_file.chmod(0o600)
        (root / "enabled_plugins").write_text("[].\n")  # No plugins: no management UI needed.
        (root / "rabbitmq-env.conf").write_text("")  # Instead of the system's /etc/rabbitmq one.

    @property
    def node(self) -> str:
        return self._node

    @property
    def port(self) -> int:
        if self._ports is None:
            raise RuntimeError("the RabbitMQ node has not been started yet")
        return self._ports.amqp

    @property
    def epmd_port(self) -> int:
        """The node's private epmd; every process of the node names it on its command line."""
        if self._ports is None:
            raise RuntimeError("the RabbitMQ node has not been started yet")
        return self._ports.epmd

    @property
    def url(self) -> str:
        """``amqp://app:PASSWORD@127.0.0.1:PORT/`` (the default vhost); the same after a restart."""
        return f"amqp://{_RABBITMQ_USER}:{self._password}@127.0.0.1:{self.port}/"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the node and return once it accepts an AMQP connection as our user.

        The first start picks free ports (retrying if another process takes one first);
        later starts reuse them, and fail loudly if one has been taken meanwhile.
        """
        if self.running:
            return
        deadline = time.monotonic() + self._startup_timeout
        if self._ports is not None:
            self._launch(self._ports, deadline)
            return
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            ports = _distinct_free_ports()
            try:
                self._launch(ports, deadline)
            except _PortTakenError:
                if attempt == _PORT_ATTEMPTS or time.monotonic() >= deadline:
                    raise
                continue
            return

    def pause(self) -> None:
        """Freeze the node (SIGSTOP): connections stay open and nothing answers, as when a broker hangs."""
        if self._process is None:
            raise RuntimeError("the RabbitMQ node is not running")
        os.killpg(self._process.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Undo :meth:`pause`; a no-op when not paused."""
        if self._process is not None and self._paused:
            os.killpg(self._process.pid, signal.SIGCONT)
        self._paused = False

    def stop(self, *, graceful: bool = False) -> None:
        """Stop the node and its epmd; a no-op when stopped. Its data stays for the next start.

        By default the node is killed at once, as a crash would: connected clients see the
        outage immediately, and what RabbitMQ confirmed is on disk all the same. With
        ``graceful`` it is asked to shut down cleanly first (as an operator's stop would),
        and killed only if that takes longer than half a minute.
        """
        if graceful:
            self.resume()  # A frozen node could not act on the request to shut down.
        process, self._process = self._process, None
        self._paused = False  # SIGKILL ends frozen processes too.
        try:
            if process is not None:
                grace = _RABBITMQ_GRACEFUL_STOP_SECONDS if graceful else 0.0
                _end_process_group(process, "rabbitmq-server", grace=grace)
        finally:
            epmd, self._epmd_process = self._epmd_process, None
            if epmd is not None:
                _end_process_group(epmd, "epmd")

    def _environment(self, ports: _RabbitPorts) -> dict[str, str]:
        """Everything the node reads, pointed into our directory; nothing from the system node."""
        env = {key: value for key, value in _server_env().items() if not key.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            {
                "HOME": str(self._root),  # Where Erlang keeps the node's cookie.
                "RABBITMQ_NODENAME": self._node,
                "RABBITMQ_USE_LONGNAME": "false",
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(ports.amqp),
                "RABBITMQ_DIST_PORT": str(ports.dist),
                "ERL_EPMD_PORT": str(ports.epmd),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_MNESIA_BASE": str(self._root / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self._log_dir),
                "RABBITMQ_PID_FILE": str(self._root / "rabbitmq.pid"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self._root / "enabled_plugins"),
                "RABBITMQ_CONFIG_FILE": str(self._config_file),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(self._root / "advanced.config"),  # Absent.
                "RABBITMQ_CONF_ENV_FILE": str(self._root / "rabbitmq-env.conf"),
                # Node-to-node traffic on loopback only; epmd is ours, already running.
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1} -start_epmd false",
            }
        )
        return env

    def _launch(self, ports: _RabbitPorts, deadline: float) -> None:
        output_start = self._output_file.stat().st_size if self._output_file.exists() else 0
        node_log_start = self._node_log.stat().st_size if self._node_log.exists() else 0
        self._ports = ports
        try:
            self._launch_epmd(ports.epmd, deadline)
            with self._output_file.open("ab") as output:
                self._process = subprocess.Popen(
                    [self._script],
                    cwd=self._root,
                    env=self._environment(ports),
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Its own process group, so that stop() can end all of it.
                )
            self._wait_until_serving(deadline, output_start=output_start, node_log_start=node_log_start)
        except BaseException:
            self.stop()
            raise

    def _launch_epmd(self, port: int, deadline: float) -> None:
        with self._output_file.open("ab") as output:
            self._epmd_process = process = subprocess.Popen(
                [self._epmd, "-port", str(port), "-address", "127.0.0.1"],
                cwd=self._root,
                env=_server_env(),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while not _wait_for_tcp(port, min(deadline, time.monotonic() + 0.1)):
            if process.poll() is not None:
                raise _PortTakenError(
                    f"epmd exited with status {process.returncode} on 127.0.0.1:{port} (port taken?)\n"
                    f"--- output ---\n{_tail(self._output_file)}"
                )
            if time.monotonic() >= deadline:
                msg = f"epmd did not listen on 127.0.0.1:{port}\n--- output ---\n{_tail(self._output_file)}"
                raise RuntimeError(msg)

    def _wait_until_serving(self, deadline: float, *, output_start: int, node_log_start: int) -> None:
        process = self._process
        assert process is not None
        while True:
            if process.poll() is not None:
                new_output = self._new_text(self._output_file, output_start) + self._new_text(
                    self._node_log, node_log_start
                )
                what = f"rabbitmq-server exited with status {process.returncode} while starting"
                if any(marker in new_output for marker in _PORT_TAKEN_MARKERS):
                    raise _PortTakenError(f"{what}: a port was taken\n{self._logs()}")
                raise RuntimeError(f"{what}\n{self._logs()}")
            # The AMQP listener opens last in RabbitMQ's boot; knocking first keeps the AMQP
            # client from logging a connection error for every poll while the node boots.
            if _wait_for_tcp(self.port, deadline=0.0) and _rabbitmq_answers(self.url):
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"RabbitMQ node {self._node} did not accept AMQP connections on 127.0.0.1:{self.port} "
                    f"within {self._startup_timeout:.0f}s\n{self._logs()}"
                )
            time.sleep(0.1)

    @property
    def _node_log(self) -> Path:
        return self._log_dir / f"{self._node}.log"

    @staticmethod
    def _new_text(path: Path, start: int) -> str:
        try:
            return path.read_bytes()[start:].decode(errors="replace")
        except OSError:
            return ""

    def _logs(self) -> str:
        return f"--- output ---\n{_tail(self._output_file)}\n--- node log ---\n{_tail(self._node_log)}"


@contextlib.contextmanager
def throwaway_rabbitmq(*, startup_timeout: float = RABBITMQ_STARTUP_TIMEOUT_SECONDS) -> Iterator[RabbitServer]:
    """Start a private RabbitMQ node and yield its handle (``.url``, ``.stop()``, ``.start()``).

    The node listens on 127.0.0.1 only (AMQP, node distribution and its own epmd, each on
    a free port), has one user with a generated password and no plugins, and keeps its
    data in a fresh temp directory. RabbitMQ is happy to run as root, so it runs as the
    current user. On exit it is killed with everything it started and its directory
    removed, even if the body raised or left it stopped.
    """
    script = _rabbitmq_server_script()
    epmd = _epmd_binary()
    account = _Account(name=None, uid=os.getuid(), gid=os.getgid())
    with _throwaway_dir("throwaway-rabbitmq-", account) as root:
        server = RabbitServer(script=script, epmd=epmd, root=root, startup_timeout=startup_timeout)
        try:
            server.start()
            yield server
        finally:
            server.stop()


# ------------------------------------------------------------------------ self-check


async def _postgres_version(url: str) -> str:
    """Connect the way the app will (asyncpg, TCP, password) and ask for the version."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("select version()"))
    finally:
        await connection.close()


def _redis_version(url: str) -> str:
    with redis.Redis.from_url(url) as client:
        info = client.info("server")
        return f"Redis {info['redis_version']}"


async def _rabbitmq_version(url: str) -> str:
    connection = await aiormq.connect(url)
    try:
        version = connection.server_properties.get("version")
        return f"RabbitMQ {version.decode() if isinstance(version, bytes) else version}"
    finally:
        await connection.close()


async def _rabbitmq_put(url: str, queue: str, body: bytes) -> None:
    """A persistent message in a durable queue, confirmed: what must survive a crash."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()  # Publisher confirms are on by default.
        await channel.declare_queue(queue, durable=True)
        message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await channel.default_exchange.publish(message, routing_key=queue)


async def _rabbitmq_get(url: str, queue: str) -> bytes | None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True)
        message = await declared.get(fail=False, no_ack=True)
        return None if message is None else message.body


def _processes_using_port(port: int) -> list[str]:
    """Command lines that name ``port`` (our epmd's is on every beam's): left-overs, after a stop."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            argv = cmdline.read_bytes().split(b"\0")
            if str(port).encode() in argv:
                found.append(b" ".join(argv).decode(errors="replace"))
    return found


def main() -> int:
    """Start, use and stop each throwaway server, so a broken machine is found in seconds."""
    started = time.monotonic()
    with throwaway_postgres(crash_safe=True) as postgres:
        print(f"postgres: {postgres.url}")
        print(f"postgres: {asyncio.run(_postgres_version(postgres.url))}")
        postgres.stop()
        postgres.start()
        print(f"postgres: {asyncio.run(_postgres_version(postgres.url))} (answered again after a restart)")
    with throwaway_redis() as server:
        print(f"redis: {server.url}")
        server.stop()
        server.start()
        print(f"redis: {_redis_version(server.url)} (answered again after a restart)")
    booted = time.monotonic()
    with throwaway_rabbitmq() as rabbit:
        print(f"rabbitmq: {rabbit.url} (booted in {time.monotonic() - booted:.1f}s)")
        print(f"rabbitmq: {asyncio.run(_rabbitmq_version(rabbit.url))}")
        asyncio.run(_rabbitmq_put(rabbit.url, "self-check", b"kept"))
        rabbit.stop()
        restarted = time.monotonic()
        rabbit.start()
        kept = asyncio.run(_rabbitmq_get(rabbit.url, "self-check"))
        if kept != b"kept":
            raise RuntimeError(f"a persistent message in a durable queue did not survive a restart: {kept!r}")
        print(f"rabbitmq: answered again after a kill and restart ({time.monotonic() - restarted:.1f}s), data kept")
        epmd_port = rabbit.epmd_port
    if leftovers := _processes_using_port(epmd_port):
        raise RuntimeError(f"processes of the RabbitMQ node survived its stop: {leftovers}")
    print(f"ok ({time.monotonic() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
