"""The thread count used when the caller does not give one."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger("pyanimf")

# The maximum thread count any call accepts; the native core rejects more.
MAX_THREADS = 4096


def resolve_threads(threads: int | None) -> int:
    """Return `threads` if given, else OMP_NUM_THREADS if set, else the CPUs this process may use.

    The CPU count comes from the affinity mask where the platform has one,
    which respects container and taskset limits, unlike os.cpu_count().
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"threads: expected an integer from 1 to {MAX_THREADS} or None, got {threads!r}")
        return threads

    from_env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if from_env:
        # OMP_NUM_THREADS may be a list for nested regions ("4,2"); the first
        # entry is the outer level.
        first = from_env.split(",")[0].strip()
        if first.isdigit() and 1 <= int(first) <= MAX_THREADS:
            logger.debug("threads: %s from OMP_NUM_THREADS", first)
            return int(first)
        raise ValueError(
            f"OMP_NUM_THREADS: expected an integer from 1 to {MAX_THREADS}, got {from_env!r}; "
            "unset it, or give a thread count (--threads on the command line, threads= in Python)"
        )

    if hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count() or 1
    logger.debug("threads: %d from the CPUs this process may use", count)
    return max(1, min(count, MAX_THREADS))
