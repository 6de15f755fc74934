"""asgiref's internals the watchdog recognises in a thread's stack.

A thread serving thread-sensitive calls for ``async_to_sync`` idles in
``CurrentThreadExecutor.run_until_future`` and runs each call in a work
item's ``run``: recognised by name, as no API says what a thread is doing.
If asgiref renames them, the waiter is interrupted at the end of the grace
period anyway.
"""

from __future__ import annotations

from types import CodeType

__all__ = ["idles_for_calls", "runs_a_call"]


def idles_for_calls(code: CodeType) -> bool:
    return code.co_name == "run_until_future"


def runs_a_call(code: CodeType) -> bool:
    return code.co_name == "run" and code.co_filename.endswith(
        "current_thread_executor.py"
    )
