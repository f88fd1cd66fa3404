"""Run a test body from several Python threads at once and fail with the first error any of
them raised (an assertion inside a thread would otherwise be lost)."""

from __future__ import annotations

import threading


def run_in_threads(fn, args) -> None:
    """fn(arg) in one thread per arg, all started before any is joined."""
    errors = []

    def body(arg):
        try:
            fn(arg)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller below
            errors.append(e)

    pool = [threading.Thread(target=body, args=(a,)) for a in args]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
