"""Messaging: the broker (chosen by ``BROKER_URL``) and the publishers the outbox relay hands events to.

The outbox itself (table, envelope, relay) is ``app.infrastructure.outbox``. Nothing is
re-exported here: importing one module must not import every broker client library.
"""
