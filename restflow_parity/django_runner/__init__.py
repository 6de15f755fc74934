"""The Django runner: the parity options of ``manage.py test``, the result
recording and the system checks. Internal: import from
``restflow_parity.runner``.
"""
