"""The project the request benchmarks measure: a new ``startproject`` with DRF.

Django's default middleware, one DRF ``ListAPIView`` over a three-row table,
in-memory SQLite: the request the issue's figures describe.
"""
