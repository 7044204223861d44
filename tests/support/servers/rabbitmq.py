"""A throwaway RabbitMQ node, with its own epmd, ended with its whole process group."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import aiormq

from tests.support.servers.common import (
    _STOP_TIMEOUT_SECONDS,
    _Account,
    _free_port,
    _PortTakenError,
    _process_group,
    _server_env,
    _start_on_ports,
    _tail,
    _throwaway_dir,
    _wait_for_tcp,
    _wait_until_frozen,
    _which_admin_tool,
)

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
        self._ports = _start_on_ports(
            self._ports, _distinct_free_ports, lambda ports: self._launch(ports, deadline), deadline
        )

    def pause(self) -> None:
        """Freeze the node (SIGSTOP): connections stay open and nothing answers, as when a broker hangs.

        Returns once every thread of the node has stopped.
        """
        if self._process is None:
            raise RuntimeError("the RabbitMQ node is not running")
        os.killpg(self._process.pid, signal.SIGSTOP)
        self._paused = True
        _wait_until_frozen(_process_group(self._process.pid))

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
