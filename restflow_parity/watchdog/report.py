"""The report of a timed-out request: every thread's stack, and where it waits.

Built once, when the limit passes, in the watchdog's thread: which thread holds
which database connection (and whether in a transaction), which thread waits
for the request or runs its event loop, and the request's suspended
coroutines, which are on no thread's stack.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import traceback
from types import FrameType
from typing import Any

from restflow_parity._thirdparty.cpython import current_frames
from restflow_parity.watchdog.limit import SETTING
from restflow_parity.watchdog.watch import Watch

__all__ = ["build_report"]

#: Frames kept per thread in the report (the innermost ones).
STACK_LIMIT = 25
#: Other suspended tasks shown in the report, at most.
MAX_TASKS = 10


def build_report(watch: Watch, watchdog_ident: int | None) -> str:
    """What ``watch``'s request is stuck on, for ``RequestTimeoutError``."""
    frames = current_frames()
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    main = threading.main_thread().ident
    holders, loops = _connections_and_loops()
    sections: list[tuple[int, str]] = []
    for ident, frame in frames.items():
        if ident == watchdog_ident:
            continue
        roles = []
        if ident == main:
            roles.append("main thread")
        if ident in holders:
            roles.append(holders[ident])
        if ident == watch.owner:
            roles.append("waits for the request")
        if ident == watch.loop_thread:
            roles.append("runs the request's event loop")
        label = f"Thread {names.get(ident, ident)!r}"
        if roles:
            label += f" ({'; '.join(roles)})"
        # The threads that matter first: holders and the request's own.
        weight = 0 if ident in holders else 1 if roles else 2
        text = _format(traceback.extract_stack(frame))
        sections.append((weight, f"--- {label} ---\n{text}"))
    sections.sort(key=lambda section: section[0])
    limit = f"{watch.limit:g}"
    parts = [
        f"{watch.description} did not finish within {limit}s, so it is probably "
        "deadlocked. Every thread's stack follows (innermost call last). If the "
        f"request is only slow, raise {SETTING} (now {limit}) in your test "
        "settings or pass request_timeout= to the client; None turns the "
        "watchdog off.",
        *(text for _, text in sections),
    ]
    # A coroutine that awaits is on no thread's stack: show where each waits.
    if watch.task is not None:
        chain = _await_chain(watch.task.get_coro())
        if watch.awaitable is not None and all(
            entry.name != getattr(watch.awaitable, "__name__", None) for entry in chain
        ):
            # A custom __await__ (the clients' PendingResponse) ends the walk.
            chain.extend(_await_chain(watch.awaitable))
        parts.append(
            "--- The request's coroutines, awaiting (on no thread's stack) ---\n"
            + _format(chain)
        )
    others = [
        task
        for loop in loops
        for task in asyncio.all_tasks(loop)
        if task is not watch.task and not task.done()
    ]
    for task in others[:MAX_TASKS]:
        chain = _await_chain(task.get_coro())
        if chain:
            parts.append(
                f"--- Task {task.get_name()!r}, awaiting (on no thread's stack) ---\n"
                + _format(chain)
            )
    return "\n\n".join(parts)


def _format(stack: list[traceback.FrameSummary]) -> str:
    hidden = len(stack) - STACK_LIMIT
    text = "".join(traceback.format_list(stack[-STACK_LIMIT:]))
    return f"  ... {hidden} outer frames left out\n{text}" if hidden > 0 else text


def _connections_and_loops() -> tuple[dict[int, str], list[asyncio.AbstractEventLoop]]:
    """Who holds which open database connection; which event loops run."""
    from django.db.backends.base.base import BaseDatabaseWrapper

    held: dict[int, list[str]] = {}
    loops: list[asyncio.AbstractEventLoop] = []
    # Connections are thread-local and loops are per thread: only the objects
    # themselves say where they are. This walk is slow, and runs only once a
    # request has timed out. type(), not isinstance(): the latter asks lazy
    # objects for their __class__, which sets them up.
    for obj in gc.get_objects():
        kind = type(obj)
        if issubclass(kind, asyncio.AbstractEventLoop):
            if obj.is_running():
                loops.append(obj)
            continue
        if not issubclass(kind, BaseDatabaseWrapper) or obj.connection is None:
            continue
        ident = getattr(obj, "_thread_ident", None)
        if ident is not None:
            what = repr(obj.alias) + (
                " in a transaction" if obj.in_atomic_block else ""
            )
            held.setdefault(ident, []).append(what)
    holders = {
        ident: "holds database connection " + ", ".join(sorted(aliases))
        for ident, aliases in held.items()
    }
    return holders, loops


def _await_chain(awaited: Any) -> list[traceback.FrameSummary]:
    """Where a suspended coroutine waits: it, then what it awaits, and so on."""
    frames: list[tuple[FrameType, int]] = []
    for _ in range(200):  # a cycle guard; real chains are a few dozen deep
        if awaited is None:
            break
        frame = (
            getattr(awaited, "cr_frame", None)
            or getattr(awaited, "ag_frame", None)
            or getattr(awaited, "gi_frame", None)
        )
        if frame is not None:
            frames.append((frame, frame.f_lineno))
        awaited = (
            getattr(awaited, "cr_await", None)
            or getattr(awaited, "ag_await", None)
            or getattr(awaited, "gi_yieldfrom", None)
        )
    return list(traceback.StackSummary.extract(iter(frames)))
