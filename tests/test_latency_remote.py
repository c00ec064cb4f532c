"""Linux boards: the standalone board runner, and the ssh harness against a real sshd on loopback."""

import getpass
import json
import os
import pathlib
import platform
import shutil
import socket
import subprocess
import sys
import time

import pytest
from ai_edge_litert import __version__ as LITERT_VERSION

from tinymoat._keras import keras, tf
from tinymoat.export.latency import board_runner, cli, remote, schema
from tinymoat.export.latency.errors import BenchError, UsageError
from tinymoat.export.latency.grid import Cell
from tinymoat.fileio import sha256

SSHD = "/usr/sbin/sshd"
RUNNER_DIR = pathlib.Path(board_runner.__file__).parent

# Runs board_runner.py as a board would, with any import of tinymoat failing loudly.
NO_TINYMOAT = """
import runpy, sys
class NoTinymoat:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tinymoat":
            raise ImportError("the board runner must not import tinymoat")
sys.meta_path.insert(0, NoTinymoat())
sys.argv = sys.argv[1:]
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    """A directory laid out like the runner's temporary directory on a board."""
    root = tmp_path_factory.mktemp("board")
    for path in remote.RUNNER_FILES:
        shutil.copy(path, root)
    model = keras.Sequential([keras.layers.Input((12, 12, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.Conv2D(2, 3)])
    (root / "tiny.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    (root / "corrupt.tflite").write_bytes(b"not a model at all")
    return root


def _runner(board_dir, *args, python=(sys.executable,)):
    return subprocess.run([*python, "-c", NO_TINYMOAT, str(board_dir / "board_runner.py"), *args],
                          capture_output=True, text=True, timeout=60, cwd=board_dir)


def test_board_runner_prints_one_json_line_without_tinymoat(board_dir):
    proc = _runner(board_dir, "tiny.tflite", "--runs", "4", "--warmup", "1", "--threads", "2")
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stdout.splitlines()
    m = json.loads(line)
    assert m["runtime"] == {"name": "litert", "version": LITERT_VERSION, "delegate": "xnnpack",
                            "threads": 2}
    assert m["latency_ms"]["runs"] == 4 and m["input_shapes"] == [[1, 12, 12, 3]]
    assert m["device"]["name"] == platform.node()


def test_board_runner_switches_xnnpack(board_dir):
    on = _runner(board_dir, "tiny.tflite", "--runs", "2", "--delegate", "xnnpack")
    off = _runner(board_dir, "tiny.tflite", "--runs", "2", "--delegate", "cpu")
    assert on.returncode == off.returncode == 0
    assert "XNNPACK delegate" in on.stderr
    assert "XNNPACK" not in off.stderr


@pytest.mark.parametrize("args,python_flags,code,message", [
    (["tiny.tflite"], ["-S"], 3, "no TFLite runtime in this python"),
    (["corrupt.tflite"], [], 4, "ValueError"),
    (["missing.tflite"], [], 2, "missing.tflite: no such file"),
    (["tiny.tflite", "--runs", "x"], [], 2, "invalid int value"),
])
def test_board_runner_failures(board_dir, args, python_flags, code, message):
    proc = _runner(board_dir, *args, python=(sys.executable, *python_flags))
    assert proc.returncode == code
    assert proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("board_runner: error: ") and message in last


# --- a real sshd on loopback ------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True,
                   capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """sshd -D on 127.0.0.1:<free port> accepting one client key for the current user."""
    if not os.path.exists(SSHD):
        pytest.skip(f"{SSHD} is not installed (Debian: apt-get install openssh-server)")
    root = tmp_path_factory.mktemp("sshd")
    for name in ("host_key", "client_key", "stranger_key"):
        _keygen(root / name)
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    (root / "authorized_keys").chmod(0o600)
    port = _free_port()
    (root / "sshd_config").write_text(f"""\
ListenAddress 127.0.0.1
Port {port}
HostKey {root}/host_key
AuthorizedKeysFile {root}/authorized_keys
PidFile {root}/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
Subsystem sftp internal-sftp
""")
    try:
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    except PermissionError:
        pass
    log = open(root / "sshd.log", "w")
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(root / "sshd_config")], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            pytest.fail(f"sshd exited: {(root / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"sshd did not listen: {(root / 'sshd.log').read_text()}")
            time.sleep(0.1)
    yield {"url": f"ssh://{getpass.getuser()}@127.0.0.1:{port}", "key": root / "client_key",
           "stranger": root / "stranger_key", "log": root / "sshd.log"}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _bench(paths, url, key, out, *extra):
    return cli.main([*map(str, paths), "--device", url, "--identity", str(key),
                     "--python", sys.executable, "--out", str(out), *extra])


def test_end_to_end_over_ssh(sshd, board_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = _bench([board_dir / "tiny.tflite"], sshd["url"], sshd["key"], out,
                  "--threads", "1,2", "--runs", "5", "--warmup", "1")
    captured = capsys.readouterr()
    assert code == 0, captured.err + sshd["log"].read_text()
    docs = sorted((schema.load(p) for p in out.glob("*.json")), key=lambda d: d["runtime"]["threads"])
    assert [d["runtime"]["threads"] for d in docs] == [1, 2]
    for doc in docs:
        assert doc["device"]["kind"] == "ssh" and doc["device"]["name"] == platform.node()
        assert doc["runtime"]["name"] == "litert" and doc["runtime"]["delegate"] == "xnnpack"
        assert doc["artifact"]["sha256"] == sha256(board_dir / "tiny.tflite")
        assert doc["artifact"]["input_size"] == [12, 12]
        assert doc["latency_ms"]["runs"] == 5 and doc["harness_overhead_ms"] > 0
    assert "2 results written" in captured.out


def test_remote_directory_is_removed(sshd, board_dir):
    runner = remote.SshRunner([board_dir / "tiny.tflite"], sshd["url"], sshd["key"], sys.executable)
    with runner:
        tmp = pathlib.Path(runner.tmp)  # loopback: the board's filesystem is ours
        assert sorted(p.name for p in tmp.iterdir()) == ["board_runner.py", "stats.py", "tiny.tflite"]
    assert not tmp.exists()


def test_remote_failure_is_one_line_and_cleans_up(sshd, board_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = _bench([board_dir / "corrupt.tflite"], sshd["url"], sshd["key"], out)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "board runner failed on" in err[0] and "(exit 4): board_runner: error: ValueError" in err[0]
    assert not out.exists()
    runner = remote.SshRunner([board_dir / "corrupt.tflite"], sshd["url"], sshd["key"], sys.executable)
    with pytest.raises(BenchError):
        with runner:
            tmp = pathlib.Path(runner.tmp)
            runner.measure(Cell(board_dir / "corrupt.tflite", "litert", "xnnpack", 1), 2, 0)
    assert not tmp.exists()


def test_missing_runtime_on_the_board(sshd, board_dir, tmp_path, capsys):
    code = cli.main([str(board_dir / "tiny.tflite"), "--device", sshd["url"], "--identity",
                     str(sshd["key"]), "--python", f"{sys.executable} -S", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "no TFLite runtime in this python" in err[0]
    assert not list(tmp_path.glob("*.json"))


def test_connection_refused(board_dir, tmp_path, capsys):
    url = f"ssh://{getpass.getuser()}@127.0.0.1:{_free_port()}"
    code = cli.main([str(board_dir / "tiny.tflite"), "--device", url, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("tinymoat-bench: error: ssh to ") and "Connection refused" in err[0]
    assert not (tmp_path / "out").exists()


def test_authentication_failure(sshd, board_dir, tmp_path, capsys):
    code = _bench([board_dir / "tiny.tflite"], sshd["url"], sshd["stranger"], tmp_path / "out")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "Permission denied" in err[0]


@pytest.mark.parametrize("url,expected", [
    ("ssh://pi@board.local", remote.Target("pi", "board.local", 22)),
    ("ssh://root@10.0.0.7:2222", remote.Target("root", "10.0.0.7", 2222)),
    ("ssh://board", remote.Target(None, "board", 22)),
])
def test_parse_target(url, expected):
    assert remote.parse_target(url) == expected


@pytest.mark.parametrize("url", ["pi@board", "http://pi@board", "ssh://pi@board:99999",
                                 "ssh://pi@board/path", "ssh://pi:secret@board"])
def test_bad_targets(url):
    with pytest.raises(UsageError, match="--device"):
        remote.parse_target(url)


def test_pathologically_nested_runner_output_is_one_line(tmp_path, monkeypatch):
    runner = remote.SshRunner([], "ssh://me@board")
    runner.tmp = "/tmp/x"
    monkeypatch.setattr(runner, "ssh", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, '{"a": ' * 100_000 + "1" + "}" * 100_000 + "\n", ""))
    cell = Cell(tmp_path / "tiny.tflite", "litert", "xnnpack", 1)
    with pytest.raises(BenchError, match="printed no JSON result"):
        runner.measure(cell, runs=2, warmup=1)
