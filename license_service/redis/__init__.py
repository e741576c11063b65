"""The Redis layer: knows Redis and django-redis, nothing of licenses.

- ``breaker``: the cache circuit breaker (a failed call makes the process skip the cache
  for a few seconds: fail open).
- ``transport``: one way to send commands in one round trip on the cache's pooled
  connections.
- ``scripts``: the count-and-read Lua script, and the cache-backend protocol that runs it
  (on Redis, or with portable cache calls on the embedded mode's in-process cache).
"""
