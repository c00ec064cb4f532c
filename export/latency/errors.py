"""Errors the latency tools turn into one line on stderr instead of a traceback."""

from __future__ import annotations

import argparse
import sys


class UsageError(Exception):
    """The user asked for something impossible (bad flag, missing file): exit 2."""

    exit_code = 2


class BenchError(Exception):
    """A measurement could not be made (no device, remote failure, bad output): exit 1."""

    exit_code = 1


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as UsageError (one line, no usage dump)."""

    def error(self, message):
        raise UsageError(message)


def one_line(text) -> str:
    return " ".join(str(text).split())


def report(prog: str, exc: Exception) -> int:
    """Prints ``PROG: error: <message>`` and returns the exit code for `exc`."""
    print(f"{prog}: error: {one_line(exc)}", file=sys.stderr)
    return getattr(exc, "exit_code", 1)
