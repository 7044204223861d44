"""Programs the load test runs, installed from Debian's packages when they are missing.

``just bench`` must run on a fresh machine: when a program is not there and we are root,
``apt-get`` installs it (updating the package lists only if the first attempt fails);
otherwise the message says what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess

_APT_TIMEOUT_SECONDS = 600.0


class MissingProgram(RuntimeError):
    """A program the run needs is not installed and could not be installed."""


def ensure(program: str, package: str) -> str:
    """The path of ``program``, installing ``package`` first when it is missing and we are root."""
    if found := _which(program):
        return found
    apt_get = shutil.which("apt-get")
    if os.geteuid() != 0 or apt_get is None:
        raise MissingProgram(f"{program} is not installed: install it (Debian/Ubuntu: apt-get install -y {package})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt_get, "install", "-y", "-q", "--no-install-recommends", package]
    for steps in ([install], [[apt_get, "update", "-q"], install]):
        if all(_succeeds(argv, env) for argv in steps) and (found := _which(program)):
            return found
    raise MissingProgram(f"could not install {package} with apt-get; install it and run again")


def _which(program: str) -> str | None:
    # Servers live in sbin directories, which a non-login PATH often lacks.
    return shutil.which(program, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def _succeeds(argv: list[str], env: dict[str, str]) -> bool:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, timeout=_APT_TIMEOUT_SECONDS, check=False)  # noqa: S603
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0
