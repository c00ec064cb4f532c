"""Progress lines for steps that take more than a moment, and quiet converters.

Converters print their own logs and progress bars (TFLite's C++ calibrator,
coremltools' pass bars) to the process's stdout/stderr. A step captures both
file descriptors while it runs and shows them only if the step fails, so the
user sees one line per step and, last, the summary table.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
import time

ENABLED = True


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that cleanup runs as for Ctrl-C."""


_stop_requested = None   # the signal that asked the export to stop


def request_stop(signum=None, frame=None):
    """SIGINT / SIGTERM handler: raises KeyboardInterrupt (SIGINT) or Terminated now, and
    again at the next step boundary.

    Python runs a signal handler wherever the interpreter is; when that is inside a
    converter's `except` or a finalizer, the exception is swallowed there. The flag
    makes the stop stick: every later step() and check_stop() raises again.
    """
    global _stop_requested
    _stop_requested = signum or signal.SIGTERM
    check_stop()


def check_stop():
    if _stop_requested == signal.SIGINT:
        raise KeyboardInterrupt()
    if _stop_requested is not None:
        raise Terminated()


def reset_stop():
    global _stop_requested
    _stop_requested = None


@contextlib.contextmanager
def quiet():
    """Captures the process's stdout and stderr; replays them if the block raises."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no file descriptors to capture (embedded interpreters)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        failed = False
        try:
            yield
        except Exception:  # not for Ctrl-C or SIGTERM: the user asked to stop
            failed = True
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace")[-4000:])


@contextlib.contextmanager
def step(message: str):
    """Prints `message ...` when a step starts and its duration when it ends."""
    start = time.perf_counter()
    if ENABLED:
        print(f"  {message} ...", file=sys.stderr, flush=True)
    check_stop()
    with quiet():
        yield
    check_stop()
    if ENABLED:
        print(f"  {message}: done in {time.perf_counter() - start:.1f} s", file=sys.stderr,
              flush=True)
