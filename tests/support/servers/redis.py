"""A throwaway Redis server, password-protected, on loopback."""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.servers.common import (
    _STOP_TIMEOUT_SECONDS,
    STARTUP_TIMEOUT_SECONDS,
    _Account,
    _free_port,
    _PortTakenError,
    _server_env,
    _start_on_ports,
    _tail,
    _throwaway_dir,
    _which_admin_tool,
)


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
        self._port = _start_on_ports(self._port, _free_port, lambda port: self._launch(port, deadline), deadline)

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


def _redis_version(url: str) -> str:
    with redis.Redis.from_url(url) as client:
        info = client.info("server")
        return f"Redis {info['redis_version']}"
