"""The variants: ``@run_both_modes``, the modes, what each variant gets and
rolls back, and the case bases. Internal: import from ``restflow_parity`` and
``restflow_parity.test``.
"""
