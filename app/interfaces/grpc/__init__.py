"""The gRPC interface (``just grpc``): the REST use cases behind ``app.v1`` services.

``server`` assembles the asyncio server; ``services`` turn messages into use-case calls;
``interceptors`` authenticate, rate-limit, log and map errors around them; ``status``
turns errors into rich statuses; ``health`` reports the dependencies. ``v1`` holds the
modules generated from ``proto/app/v1`` (``just proto``).
"""
