"""The pytest plugin: its hooks, fixtures and the per-test event loop.
Internal: pytest loads ``restflow_parity.plugin``.
"""
