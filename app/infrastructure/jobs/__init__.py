"""Background jobs on Taskiq: the broker (Redis streams, or in-process), its middlewares and the jobs.

Nothing is re-exported here, as for messaging: importing the jobs must not drag in the broker.
"""
