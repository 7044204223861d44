"""What a run ran on: machine, software versions and code revision, kept with its results.

Figures mean little without these; the load average is recorded too, since a machine
shared with other work measures lower than a quiet one.
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = (
    "litestar",
    "uvicorn",
    "uvloop",
    "httptools",
    "msgspec",
    "sqlalchemy",
    "advanced-alchemy",
    "asyncpg",
    "redis",
    "pyjwt",
    "argon2-cffi",
    "structlog",
)


def machine() -> dict[str, Any]:
    return {
        "cpu": _first_value(Path("/proc/cpuinfo"), "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(int((_first_value(Path("/proc/meminfo"), "MemTotal") or "0 kB").split()[0]) / 2**20, 1),
        "os": _os_name(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def versions(wrk: str) -> dict[str, str]:
    found = {"python": platform.python_version(), "wrk": _wrk_version(wrk)}
    for package in _PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def revision() -> str:
    """The commit, marked ``+dirty`` when the work tree has uncommitted changes."""
    try:
        commit = _output(["git", "rev-parse", "--short", "HEAD"])
        dirty = _output(["git", "status", "--porcelain", "--untracked-files=no"])
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def process_stat(pid: int) -> list[str]:
    """Linux's ``/proc/PID/stat`` from its third field (``state``) on: index 3 is the session,
    11 and 12 the process's user and system CPU ticks, 13 and 14 those of its reaped children."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def session_cpu_seconds(session: int) -> float:
    """CPU time (user + system) used so far by the processes of a session, and by those they reaped.

    On a shared machine a start's wall-clock time says how busy the machine was too; its CPU
    time says what the start costs.
    """
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = process_stat(int(entry.name))
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) == session:
            ticks += sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _wrk_version(wrk: str) -> str:
    # wrk prints its version on the first line of its usage text, and exits 1.
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10, check=False)  # noqa: S603
    first = (done.stdout or done.stderr).splitlines()[:1]
    return first[0].split(" [")[0].removeprefix("wrk ") if first else "unknown"


def _output(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=10, check=True).stdout.strip()  # noqa: S603


def _first_value(path: Path, key: str) -> str | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.partition("=")[2].strip('"')
    except OSError:
        pass
    return platform.platform()
