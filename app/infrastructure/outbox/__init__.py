"""The transactional outbox: its table, the writer, the envelope, the relay and its destinations.

Generic on purpose: it knows ``DomainEvent`` (``app.domain.events``) and nothing of any
aggregate, nor of the database's other tables, nor of any broker. The unit of work
writes whatever events the aggregates it saved recorded (``writer``); the relay hands
them to destinations, each a ``Publisher`` (the broker's, in ``app.infrastructure.messaging``,
and this service's own subscribers, ``subscribers``). tests/test_architecture.py holds it
to that. Nothing is re-exported here: importing the envelope must not import asyncpg.
"""
