"""Where benchmarks write their figures: one section each in docs/benchmarks.md.

    from record import cpu_description, write_section
    write_section("int8-speed", "INT8 vs float32 latency", "python bench/int8_speed.py",
                  markdown)

Each benchmark owns one section, delimited by HTML comments, and replaces only
its own; the header it gets states the command, the date, the CPU (as the
latency harness describes the host) and its int8 dot-product flags, so every
table in the file says where it came from. Pass --no-record to a benchmark to
print without writing (benchmarks do that for quick runs).
"""

from __future__ import annotations

import datetime
import os
import re

DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                    "benchmarks.md")
TITLE = ("# Benchmarks\n\nWritten by the benchmarks under `bench/`, each in its own section "
         "(the latest run of each; git keeps history). Figures from a shared, noisy machine: "
         "compare rows of one table, measured side by side in one run, not figures across "
         "tables.\n")
INT8_DOT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm")


def int8_dot_flags() -> list:
    """The int8 dot-product flags of /proc/cpuinfo (the latency harness does not probe
    them): INT8's gain over float32 depends on them (without, x86 multiplies int8
    through 16-bit lanes)."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    flags = set()
    for line in lines:
        if line.lower().startswith(("flags", "features")):
            flags.update(line.split(":", 1)[1].split())
    return [flag for flag in INT8_DOT_FLAGS if flag in flags]


def cpu_description() -> str:
    """'CPU (arch, N cores); int8 dot-product instructions: flags': the CPU as the latency
    harness describes this host (host.host_device), plus its int8 dot-product flags."""
    from tinymoat.export.latency.host import host_device
    dot = int8_dot_flags()
    return (f"{host_device()['cpu']}; int8 dot-product instructions: "
            f"{', '.join(dot) if dot else 'none'}")


def _markers(name: str):
    if not re.fullmatch(r"[a-z0-9-]+", name):
        raise ValueError(f"section name {name!r}: use lower-case letters, digits and '-'")
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def section(name: str, title: str, command: str, body: str, when=None) -> str:
    begin, end = _markers(name)
    when = when or datetime.datetime.now(datetime.timezone.utc)
    header = (f"## {title}\n\n"
              f"- command: `{command}`\n"
              f"- date: {when:%Y-%m-%d %H:%M} UTC\n"
              f"- CPU: {cpu_description()}\n")
    return f"{begin}\n{header}\n{body.strip()}\n{end}\n"


def write_section(name: str, title: str, command: str, body: str, path: str = DOCS) -> str:
    """Replaces (or appends) the section `name` in docs/benchmarks.md; returns the path.
    Written to a temporary file and renamed, so a killed benchmark leaves the old file."""
    text = section(name, title, command, body)
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except FileNotFoundError:
        current = TITLE
    begin, end = _markers(name)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(current):
        current = pattern.sub(lambda _: text, current, count=1)
    else:
        current = current.rstrip("\n") + "\n\n" + text
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(current)
    os.replace(tmp, path)
    return path
