"""Several projects at once: one thread per project, up to the available cores.

Each project builds in its own work tree and takes its own mirror's lock, so
the threads share nothing but the cache. git does the work in child
processes, so threads are enough to keep every core busy. Ctrl-C reaches only
the main thread: it stops every streamed git process (:func:`git.cancel_all`),
waits for the threads to unwind as they would from a Ctrl-C of their own, and
raises it again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TypeVar

from verda_patch import git

T = TypeVar("T")


def workers(count: int) -> int:
    """Threads for ``count`` projects: one per available core, at most one each."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(count, cores))


def run_each(
    items: Sequence[str], work: Callable[[str], T], *, threads: int | None = None
) -> list[T | BaseException]:
    """``work(item)`` for every item, in parallel; results (or the error) in item order."""
    threads = threads or workers(len(items))
    if threads <= 1 or len(items) <= 1:
        out: list[T | BaseException] = []
        for item in items:
            try:
                out.append(work(item))
            except Exception as exc:  # reported per item, as the parallel path does
                out.append(exc)
        return out
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="verda-project")
    futures = [pool.submit(work, item) for item in items]
    try:
        wait(futures)
    except KeyboardInterrupt:
        git.cancel_all()
        pool.shutdown(wait=True, cancel_futures=True)
        git.reset_cancel()
        raise
    pool.shutdown(wait=True)
    results: list[T | BaseException] = []
    for future in futures:
        error = future.exception()
        results.append(error if error is not None else future.result())
    return results
