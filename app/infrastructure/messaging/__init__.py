"""Messaging: the broker (chosen by ``BROKER_URL``), the event envelope, the outbox relay and the consumer.

Nothing is re-exported here: importing one module (say the envelope) must not import
every broker client library.
"""
