"""The request path: building requests, sending them through either stack, and
accounting for them (the stack ledger). Internal: import from
``restflow_parity.test``.
"""
