"""Linux boards over ssh: copy the board runner and the artifacts, run, clean up.

Uses the system `ssh`/`scp` (so ~/.ssh/config, agents and jump hosts work)
non-interactively: BatchMode, host keys accepted on first use into a
throw-away known_hosts file, 10 s connect timeout. Sequence: `mktemp -d` on the
board, `scp` of board_runner.py + stats.py + the artifacts, one
`python board_runner.py ...` per cell (one JSON line back), `rm -rf` of the
directory at the end, whatever happened.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import shlex
import subprocess
import tempfile
import urllib.parse

from . import artifacts
from .errors import BenchError, UsageError, one_line
from .grid import Cell
from .schema import build_result

HERE = pathlib.Path(__file__).parent
RUNNER_FILES = (HERE / "board_runner.py", HERE / "stats.py")
RUN_TIMEOUT_S = 900


@dataclasses.dataclass(frozen=True)
class Target:
    user: str | None
    host: str
    port: int

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def scp_login(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user}@{host}" if self.user else host

    def __str__(self):
        return f"{self.login}:{self.port}"


def parse_target(url: str) -> Target:
    """`ssh://user@host[:port]` -> Target (port 22 by default)."""
    parsed = urllib.parse.urlsplit(url)
    try:
        port = parsed.port or 22
    except ValueError:
        raise UsageError(f"--device {url}: bad port") from None
    if parsed.scheme != "ssh" or not parsed.hostname or parsed.path not in ("", "/") \
            or parsed.password or parsed.query or parsed.fragment:
        raise UsageError(f"--device {url}: expected ssh://user@host[:port]")
    return Target(urllib.parse.unquote(parsed.username) if parsed.username else None,
                  parsed.hostname, port)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


class SshRunner:
    """A board with the runner and the artifacts copied into a fresh temporary directory."""

    def __init__(self, paths, device_url, identity=None, python="python3"):
        self.paths = list(paths)
        self.target = parse_target(device_url)
        if identity and not pathlib.Path(identity).is_file():
            raise UsageError(f"--identity {identity}: no such file")
        self.identity = identity
        self.python = shlex.split(python) or ["python3"]
        self.tmp = None
        self._scratch = None

    # -- plumbing --

    def _options(self, port_flag: str) -> list:
        known_hosts = pathlib.Path(self._scratch.name) / "known_hosts"
        options = [port_flag, str(self.target.port), "-o", "BatchMode=yes",
                   "-o", "StrictHostKeyChecking=accept-new",
                   "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=10"]
        if self.identity:
            options += ["-i", str(self.identity), "-o", "IdentitiesOnly=yes"]
        return options

    def _run(self, cmd, what, timeout) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise BenchError(f"cannot run {cmd[0]}: {exc}") from None
        except subprocess.TimeoutExpired:
            raise BenchError(f"{what} on {self.target} did not finish in {timeout} s") from None

    def ssh(self, command: str, what: str, timeout=120, check=True) -> subprocess.CompletedProcess:
        proc = self._run(["ssh", *self._options("-p"), self.target.login, command], what, timeout)
        if proc.returncode == 255:  # ssh's own failure: refused, unreachable, auth, host key
            raise BenchError(f"ssh to {self.target} failed: {_last_line(proc.stderr)}")
        if check and proc.returncode != 0:
            raise BenchError(f"{what} failed on {self.target} (exit {proc.returncode}): "
                             f"{_last_line(proc.stderr)}")
        return proc

    def scp(self, files, remote_dir: str):
        cmd = ["scp", "-q", *self._options("-P"), *map(str, files),
               f"{self.target.scp_login}:{remote_dir}/"]
        proc = self._run(cmd, "scp", 600)
        if proc.returncode != 0:
            raise BenchError(f"scp to {self.target} failed: {_last_line(proc.stderr)}")

    # -- session --

    def __enter__(self):
        self._scratch = tempfile.TemporaryDirectory(prefix="tinymoat-ssh-")
        try:
            out = self.ssh("mktemp -d", "mktemp -d").stdout.strip()
            if not re.fullmatch(r"/[\w.+-]+(/[\w.+-]+)+", out):
                raise BenchError(f"mktemp -d on {self.target} returned {out[:80]!r}, not a directory")
            self.tmp = out
            self.scp([*RUNNER_FILES, *self.paths], self.tmp)
        except BaseException:
            self._cleanup()
            raise
        return self

    def __exit__(self, *exc):
        self._cleanup()
        return False

    def _cleanup(self):
        try:
            if self.tmp:
                try:
                    self.ssh(f"rm -rf {shlex.quote(self.tmp)}", "cleanup", check=False)
                except BenchError:
                    pass  # the board went away; nothing more we can do
                self.tmp = None
        finally:
            if self._scratch:
                self._scratch.cleanup()
                self._scratch = None

    def runner_command(self, cell: Cell, runs: int, warmup: int) -> str:
        args = [*self.python, "board_runner.py", cell.path.name, "--threads", str(cell.threads),
                "--runs", str(runs), "--warmup", str(warmup), "--delegate", cell.delegate]
        return f"cd {shlex.quote(self.tmp)} && " + " ".join(shlex.quote(a) for a in args)

    def measure(self, cell: Cell, runs: int, warmup: int) -> dict:
        if cell.runtime not in ("litert", "onnxruntime"):
            raise UsageError(f"{cell.path.name}: boards run .tflite and .onnx only")
        proc = self.ssh(self.runner_command(cell, runs, warmup), f"board runner ({cell.label()})",
                        timeout=RUN_TIMEOUT_S, check=False)
        if proc.returncode != 0:
            raise BenchError(f"board runner failed on {self.target} for {cell.label()} "
                             f"(exit {proc.returncode}): {_last_line(proc.stderr)}")
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        try:
            measurement = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError, RecursionError):
            raise BenchError(f"board runner on {self.target} printed no JSON result: "
                             f"{one_line(_last_line(proc.stdout))[:160]}") from None
        return self._result(cell, measurement)

    def _result(self, cell: Cell, m: dict) -> dict:
        info = artifacts.export_info(cell.path)
        shapes = m.get("input_shapes") or [None]
        notes = list(info.notes) + ["inputs: random data"] + m.get("notes", []) + [
            "peak_memory_mb: growth of the runner process's peak RSS (getrusage) during the "
            "measurement"]
        try:
            return build_result(
                device={"kind": "ssh", **m["device"]}, runtime=m["runtime"],
                artifact=artifacts.describe(cell.path, info, shapes[0]),
                latency_ms=m["latency_ms"], init_ms=m["init_ms"],
                first_inference_ms=m["first_inference_ms"], peak_memory_mb=m["peak_memory_mb"],
                harness_overhead_ms=m["harness_overhead_ms"],
                validation=artifacts.validation(info), notes=notes)
        except (KeyError, TypeError, ValueError) as exc:
            raise BenchError(f"board runner on {self.target} returned an unusable result: "
                             f"{one_line(exc)}") from None
