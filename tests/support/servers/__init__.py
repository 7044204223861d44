"""Throwaway backing servers for the test suite.

``just test`` must run against *real* PostgreSQL, Redis and RabbitMQ, and when no
settings name one, against servers it starts and stops itself. Each context manager
here starts one private server on free loopback ports in a fresh temp directory, yields
its URL (or a handle carrying it) and removes every trace on exit, even when the body
raised.

A server that cannot be started is a loud failure (``RuntimeError``), never a skip: a
suite that silently skips its database tests proves nothing.

One module per server (``postgres``, ``redis``, ``rabbitmq``), each built from the same
helpers in ``common``: :func:`_server_account`, :func:`_throwaway_dir`,
:func:`_free_port`, :func:`_start_on_ports`, :func:`_run` and :func:`_wait_for_tcp`.

Self-check: ``python -m tests.support.servers``.
"""

from __future__ import annotations

from tests.support.servers.postgres import PostgresServer, throwaway_postgres
from tests.support.servers.rabbitmq import RabbitServer, throwaway_rabbitmq
from tests.support.servers.redis import RedisServer, throwaway_redis

__all__ = [
    "PostgresServer",
    "RabbitServer",
    "RedisServer",
    "throwaway_postgres",
    "throwaway_rabbitmq",
    "throwaway_redis",
]
