"""The verdict: variants compared across the stacks, the report file, the merge
of many reports, and reruns. Internal: the report format and
``python -m restflow_parity merge`` are the public faces.
"""
