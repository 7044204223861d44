"""``python -m app.interfaces.grpc`` (``just grpc``)."""

from app.interfaces.grpc.server import main

main()
