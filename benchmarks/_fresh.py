"""Running one benchmark job in a fresh process (shared by the benchmark scripts).

Each job gets a new interpreter (``spawn``), so its peak memory and its first-call costs
are its own; a worker that dies without reporting (a crash in a native library) gives an
error row with its exit code instead of a hung benchmark.
"""

from __future__ import annotations

import queue
import resource
from typing import Any, Callable


def rss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _worker(results, job, label, args):
    try:
        results.put(job(*args))
    except Exception as exc:  # report and carry on with the other jobs
        results.put({**label, "error": f"{type(exc).__name__}: {exc}"})


def run_in_fresh_process(ctx, job: Callable[..., dict], label: dict[str, Any], *args: Any) -> dict:
    """``job(*args)`` in a new process of ``ctx``; ``label`` names the job in an error row."""
    results = ctx.Queue()
    proc = ctx.Process(target=_worker, args=(results, job, label, args))
    proc.start()
    while True:
        try:
            row = results.get(timeout=5)
            break
        except queue.Empty:
            if not proc.is_alive():
                try:
                    row = results.get(timeout=1)  # it may have reported just before exiting
                except queue.Empty:
                    row = {**label, "error": f"the worker process exited with code {proc.exitcode} without a result"}
                break
    proc.join()
    return row
