"""A throwaway PostgreSQL server, run as an unprivileged user."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import asyncpg

from tests.support.servers.common import (
    STARTUP_TIMEOUT_SECONDS,
    _Account,
    _free_port,
    _PortTakenError,
    _proc_stat_fields,
    _run,
    _server_account,
    _start_on_ports,
    _tail,
    _throwaway_dir,
    _wait_for_tcp,
    _wait_until_frozen,
)

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
        if self.running:
            return
        deadline = time.monotonic() + self._startup_timeout

        def launch(port: int) -> None:
            _start_postgres(
                self._account,
                pg_ctl=self._pg_ctl,
                data_dir=self._data_dir,
                log_file=self._log_file,
                cwd=self._root,
                startup_timeout=self._startup_timeout,
                port=port,
                deadline=deadline,
            )

        self._port = _start_on_ports(self._port, _free_port, launch, deadline)

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
        Returns once each of them has stopped.
        """
        processes = self._processes()
        self._signal_each(processes, signal.SIGSTOP)
        _wait_until_frozen(processes)

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
                if int(_proc_stat_fields(stat)[1]) == postmaster:
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
    port: int,
    deadline: float,
) -> None:
    """Start the cluster on ``port`` and return once it accepts connections.

    Raises ``_PortTakenError`` when another process holds the port (the server cannot bind).
    """
    remaining = max(1, int(deadline - time.monotonic()))
    command = [pg_ctl, "start", "-D", str(data_dir), "-l", str(log_file)]
    command += ["-w", "-t", str(remaining), "-o", f"-p {port}"]
    try:
        _run(account, command, cwd=cwd, timeout=remaining + 10)
    except RuntimeError as exc:
        log = _tail(log_file)
        msg = f"PostgreSQL did not start: {exc}\n--- server log ---\n{log}"
        if "could not bind" in log:
            log_file.write_text("")  # Keep the next attempt's log unambiguous.
            raise _PortTakenError(msg) from exc
        raise RuntimeError(msg) from exc
    if not _wait_for_tcp(port, deadline):
        msg = (
            f"PostgreSQL did not accept TCP connections on 127.0.0.1:{port} within "
            f"{startup_timeout:.0f}s\n--- server log ---\n{_tail(log_file)}"
        )
        raise RuntimeError(msg)


async def _postgres_version(url: str) -> str:
    """Connect the way the app will (asyncpg, TCP, password) and ask for the version."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        return str(await connection.fetchval("select version()"))
    finally:
        await connection.close()
