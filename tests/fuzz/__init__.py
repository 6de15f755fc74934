"""The request fuzzer: generated requests through five routes, compared.

See tests/fuzz/run.py for the command and docs/reliability.md for results.
"""
