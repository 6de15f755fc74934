"""The project the request benchmarks measure: a new ``startproject`` with DRF.

Django's default middleware, in-memory SQLite, and two requests: a DRF
``ListAPIView`` over a three-row table, anonymous (``/groups/``), and the
same list behind ``SessionAuthentication`` and ``IsAuthenticated`` for a
logged-in client (``/session/groups/``), where the session, CSRF and auth
middleware load a session row and the user on every request.
"""
