"""Progress lines for steps that take more than a moment (to stderr)."""

from __future__ import annotations

import contextlib
import sys
import time

ENABLED = True


@contextlib.contextmanager
def step(message: str):
    """Prints `message ...` when a step starts and its duration when it ends."""
    start = time.perf_counter()
    if ENABLED:
        print(f"  {message} ...", file=sys.stderr, flush=True)
    yield
    if ENABLED:
        print(f"  {message}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr,
              flush=True)
