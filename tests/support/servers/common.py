"""What every throwaway server is built from: an account to run it as, a fresh directory,
free ports, commands with a deadline, and waiting for a port to answer."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

STARTUP_TIMEOUT_SECONDS = 30.0
"""How long a server may take to accept connections before we give up and show its log."""

_COMMAND_TIMEOUT_SECONDS = 120.0
"""Upper bound for one helper command (initdb, pg_ctl …) so a wedged tool cannot hang CI."""

_FALLBACK_SERVER_USER = "apptest"
"""System account created when running as root on a machine without a ``postgres`` user."""

_PORT_ATTEMPTS = 3
"""A port found free can be taken by someone else before the server binds it: retry."""

_LOG_TAIL_CHARS = 4000

_Ports = TypeVar("_Ports")

_STOP_TIMEOUT_SECONDS = 10.0
"""How long a killed server process may take to be reaped before we give up on it."""

_FREEZE_TIMEOUT_SECONDS = 10.0
"""How long a server sent SIGSTOP may take until every one of its threads has stopped."""

_CANNOT_RUN = frozenset("TtZX")
"""Thread states in ``/proc`` that run no code: stopped (also by a tracer), zombie, dead."""


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


def _proc_stat_fields(stat_file: Path) -> list[str]:
    """The fields of a ``/proc/…/stat`` line after the command name, from the state on.

    The line is "pid (comm) state ppid pgrp …" and comm may hold spaces: split after its ")".
    Raises ``OSError`` when the process or thread has gone.
    """
    return stat_file.read_text().rpartition(")")[2].split()


def _process_group(pgid: int) -> list[int]:
    """The pids of the processes in process group ``pgid`` (read from ``/proc``)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(_proc_stat_fields(stat)[2]) == pgid:
                members.append(int(stat.parent.name))
    return members


def _wait_until_frozen(pids: Iterable[int], timeout: float = _FREEZE_TIMEOUT_SECONDS) -> None:
    """Return once every thread of each process in ``pids`` is stopped; processes that have ended are skipped.

    ``kill`` returns once SIGSTOP is queued, not once it has been acted on. A process with
    many threads (the Erlang VM) stops when one of its threads takes the signal and stops
    the others; on a loaded machine the rest may go on answering clients meanwhile, and a
    test that expects a hung server would see it answer.
    """
    deadline = time.monotonic() + timeout
    for pid in pids:
        while not _all_threads_stopped(pid):
            if time.monotonic() >= deadline:
                raise RuntimeError(f"process {pid} did not stop within {timeout:g}s of SIGSTOP")
            time.sleep(0.002)


def _all_threads_stopped(pid: int) -> bool:
    """Whether no thread of ``pid`` can run any more: each is stopped, or has ended (a zombie, or gone)."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").glob("[0-9]*/stat"))
    except OSError:
        return True
    for stat in tasks:
        try:
            state = _proc_stat_fields(stat)[0]
        except OSError:
            continue  # A thread that ended since it was listed.
        if state not in _CANNOT_RUN:
            return False
    return True


class _PortTakenError(RuntimeError):
    """The server could not bind its port: someone took it between our check and its bind."""


def _start_on_ports(
    known: _Ports | None, pick: Callable[[], _Ports], launch: Callable[[_Ports], None], deadline: float
) -> _Ports:
    """Launch a server on its ``known`` ports, or on the first start on free ones, and return them.

    A restart is tried once on the ports it had: its clients expect it there. Ports found
    free are only free when we looked: when ``launch`` finds one taken (``_PortTakenError``)
    before the server could bind it, new ones are picked, up to ``_PORT_ATTEMPTS`` times
    and while the ``deadline`` (monotonic clock) allows.
    """
    if known is not None:
        launch(known)
        return known
    attempt = 1
    while True:
        ports = pick()
        try:
            launch(ports)
        except _PortTakenError:
            if attempt >= _PORT_ATTEMPTS or time.monotonic() >= deadline:
                raise
            attempt += 1
        else:
            return ports
