"""Every use of another package's private or undocumented names, one module
per package, so a release that moves one breaks here and nowhere else.

Each name has a canary in ``tests/test_canaries.py``, and
``docs/reference/privates.md`` lists them with the reason no public way
serves. Overrides of private hooks (``LiveServerTestCase._create_server_thread``
and the like) stay in the classes that override them; the canaries cover
those too.
"""
