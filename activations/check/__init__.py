"""The product check (SPEC §6), one request read top to bottom:

- ``keys``: its cache keys (entry, generation, epoch, invalidation) and their invalidation
  after a write commits (``licensing.signals.check_answer_changed``);
- ``facts``: what an answer is made of (``KeyFacts``), read from a cache entry or loaded
  from the database, and rendered;
- ``near``: the near cache (answers kept in the process, kept current by Redis) with the
  rate-limit events it counts locally (``LocalCounts``);
- ``limits``: the product API's rate limits (shared with activate/deactivate);
- ``read``: the read path (near cache, else one round trip to Redis, else the database);
- ``view``: the HTTP views.
"""
