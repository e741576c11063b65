"""Developer and CI scripts (the OpenAPI fuzz and its local reverse proxy)."""
