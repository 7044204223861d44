"""The practical ceiling for the gRPC ``app.v1.UserService/GetMe``: the least code that does its work.

The bare HTTP app's essential work (``bench.baseline.Essentials``: verify the bearer JWT
with pyjwt, one asyncpg query by primary key) answered with the service's own ``User``
message, on a bare ``grpc.aio`` server: no interceptors, no request log, no dependency
injection, no ORM, no cache, no session check. The standard health service is there
only so that the runner can tell when it serves. Run as ``python -m bench.grpc_baseline``;
it listens on ``HOST``:``GRPC_PORT``, as ``just grpc`` does, and stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal

import asyncpg
import grpc
import grpc.aio
import msgspec
from google.protobuf.struct_pb2 import Struct
from grpc_health.v1 import health, health_pb2_grpc

from app.interfaces.grpc.v1 import users_pb2
from bench.baseline import Essentials, essentials

USER_SERVICE = users_pb2.DESCRIPTOR.services_by_name["UserService"].full_name


def get_me_handler(work: Essentials) -> grpc.GenericRpcHandler:
    """``UserService`` with ``GetMe`` alone: the other methods are not measured, so they are not there."""

    async def get_me(_: users_pb2.GetMe, context: grpc.aio.ServicerContext[object, object]) -> users_pb2.User:
        authorization = dict(context.invocation_metadata() or ()).get("authorization", "")
        row = await work.user(str(authorization))
        if row is None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "Invalid credentials")
        return user_message(row)

    method = grpc.unary_unary_rpc_method_handler(
        get_me, request_deserializer=users_pb2.GetMe.FromString, response_serializer=users_pb2.User.SerializeToString
    )
    return grpc.method_handlers_generic_handler(USER_SERVICE, {"GetMe": method})


def user_message(row: asyncpg.Record) -> users_pb2.User:
    """The row as the ``User`` message; jsonb columns arrive as JSON text."""
    address = msgspec.json.decode(row["address"]) if row["address"] else None
    meta = Struct()
    meta.update(msgspec.json.decode(row["meta"]))
    birthday = row["birthday"]
    return users_pb2.User(
        id=str(row["id"]),
        email=row["email"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        phone=row["phone"],
        birthday=birthday.isoformat() if birthday else None,
        photo_url=row["photo_url"],
        address=users_pb2.Address(**address) if address else None,
        meta=meta,
        role=row["role"],
        is_active=row["is_active"],
        created_at=row["created_at"].isoformat(),
        updated_at=row["updated_at"].isoformat(),
    )


async def serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with essentials() as work:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((get_me_handler(work),))
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        server.add_insecure_port(f"{host}:{port}")
        await server.start()
        await stop.wait()
        await server.stop(grace=1)


if __name__ == "__main__":
    asyncio.run(serve(os.environ.get("HOST", "127.0.0.1"), int(os.environ["GRPC_PORT"])))
