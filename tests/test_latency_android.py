"""Android harness: the real adb up to "no device"; a fake adb replaying recorded output for the phone."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

from tinymoat.export.latency import android, cli, schema
from tinymoat.export.latency.errors import BenchError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "benchmark_model")

# Stands in for the phone only: logs its arguments and replays recorded output.
FAKE_ADB = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    args = sys.argv[1:]
    with open(os.environ["FAKE_ADB_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    if args[:1] == ["-s"]:
        args = args[2:]
    if args == ["devices"]:
        sys.stdout.write(os.environ["FAKE_ADB_DEVICES"])
    elif args[0] == "push" and not os.path.exists(args[1]):
        sys.exit("adb: error: cannot stat '%s': No such file or directory" % args[1])
    elif args[0] == "push":
        print("%s: 1 file pushed." % args[1])
    elif args == ["shell", "getprop"]:
        sys.stdout.write(open(os.environ["FAKE_ADB_GETPROP"]).read())
    elif args[0] == "shell" and "/benchmark_model " in args[1]:
        sys.stdout.write(open(os.environ["FAKE_ADB_OUTPUT"]).read())
""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def export_dir(tmp_path):
    """A .tflite (content irrelevant to the fake phone) with the exporter's manifest and report."""
    folder = tmp_path / "export"
    folder.mkdir()
    name = "tiny-moat-0_224_int8.tflite"
    (folder / name).write_bytes(b"TFL3" + bytes(60))
    (folder / "manifest.json").write_text(json.dumps({
        "schema": "tinymoat.export/1", "variant": "tiny-moat-0", "input_size": [224, 224],
        "artifacts": [{"file": name, "target": "tflite", "precision": "int8"}]}))
    (folder / "report.json").write_text(json.dumps({
        "schema": "tinymoat.export-report/1",
        "artifacts": [{"file": name, "validation": {"top1_agreement": 0.97, "accuracy": None}}]}))
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"\x7fELF")
    return folder / name, binary


@pytest.fixture
def fake_adb(tmp_path, monkeypatch):
    exe = tmp_path / "fake-adb"
    exe.write_text(FAKE_ADB.format(python=sys.executable))
    exe.chmod(0o755)
    log = tmp_path / "adb.log"
    monkeypatch.setenv("FAKE_ADB_LOG", str(log))
    monkeypatch.setenv("FAKE_ADB_DEVICES", "List of devices attached\n2A1B3C\tdevice\n\n")
    monkeypatch.setenv("FAKE_ADB_GETPROP", os.path.join(FIXTURES, "getprop_pixel7.txt"))
    monkeypatch.setenv("FAKE_ADB_OUTPUT", os.path.join(FIXTURES, "pixel7_xnnpack_op_profiling.txt"))

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return str(exe), calls


def _bench(artifact, binary, adb, out, *extra):
    return cli.main([str(artifact), "--android", "--benchmark-binary", str(binary), "--adb", adb,
                     "--out", str(out), *extra])


# --- the real adb ---------------------------------------------------------------

@pytest.fixture
def real_adb(monkeypatch):
    """The real adb with a private server port; the server it starts is stopped afterwards."""
    exe = shutil.which("adb")
    if exe is None:
        pytest.skip("adb is not installed (Debian: apt-get install adb)")
    port = _free_port()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(port))
    monkeypatch.delenv(android.ADB_ENV, raising=False)
    yield exe
    subprocess.run([exe, "-P", str(port), "kill-server"], capture_output=True, timeout=30)


def test_real_adb_without_a_device(real_adb, export_dir, tmp_path, capsys):
    artifact, binary = export_dir
    code = _bench(artifact, binary, real_adb, tmp_path / "out")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == ["tinymoat-bench: error: no Android device attached; "
                   "adb devices returned: 'List of devices attached'"]
    assert not (tmp_path / "out").exists()


def test_real_adb_unknown_serial(real_adb):
    with pytest.raises(BenchError, match="device NOPE is not attached and ready; "
                                                 "adb devices returned: 'List of devices attached'"):
        android.choose_device(real_adb, "NOPE")


# --- a fake phone -----------------------------------------------------------------

def test_push_run_parse_cleanup(fake_adb, export_dir, tmp_path, capsys):
    exe, calls = fake_adb
    artifact, binary = export_dir
    out = tmp_path / "out"
    code = _bench(artifact, binary, exe, out, "--threads", "2", "--runs", "20", "--warmup", "3",
                  "--op-profiling")
    assert code == 0, capsys.readouterr().err
    log = calls()
    assert log[0] == ["devices"]
    assert all(c[:2] == ["-s", "2A1B3C"] for c in log[1:])
    steps = [c[2:] for c in log[1:]]
    assert steps[0] == ["shell", "getprop"]
    tmp = steps[1][1].split()[-1]
    assert steps[1] == ["shell", f"mkdir -p {tmp}"] and tmp.startswith("/data/local/tmp/tinymoat-")
    assert steps[2] == ["push", str(binary), f"{tmp}/benchmark_model"]
    assert steps[3] == ["shell", f"chmod 755 {tmp}/benchmark_model"]
    assert steps[4] == ["push", str(artifact), f"{tmp}/{artifact.name}"]
    assert steps[5][1].split() == [
        f"{tmp}/benchmark_model", f"--graph={tmp}/{artifact.name}", "--num_threads=2",
        "--num_runs=20", "--warmup_runs=3", "--use_xnnpack=true", "--enable_op_profiling=true"]
    assert steps[6] == ["shell", f"rm -rf {tmp}"] and len(steps) == 7

    [path] = out.iterdir()
    doc = schema.load(path)
    assert doc["device"] == {"kind": "android", "name": "2A1B3C", "model": "Google Pixel 7",
                             "os": "Android 14 (API 34)", "cpu": "arm64-v8a", "soc": "Google GS201"}
    assert doc["runtime"] == {"name": "tflite_benchmark_model", "version": None,
                              "delegate": "xnnpack", "threads": 2}
    assert doc["artifact"]["variant"] == "tiny-moat-0" and doc["artifact"]["precision"] == "int8"
    assert doc["artifact"]["input_size"] == [224, 224]
    assert doc["validation"] == {"top1_agreement": 0.97, "accuracy": None}
    assert doc["latency_ms"]["median"] is None and doc["latency_ms"]["runs"] == 139
    assert len(doc["op_profile"]) == 11
    assert any("made 139 timed runs for --num_runs=20" in n for n in doc["notes"])


def test_delegate_grid_flags(fake_adb, export_dir, tmp_path):
    exe, calls = fake_adb
    artifact, binary = export_dir
    assert _bench(artifact, binary, exe, tmp_path / "out", "--delegate", "cpu,gpu,nnapi") == 0
    runs = [c[3] for c in calls() if c[2:3] == ["shell"] and "/benchmark_model " in c[3]]
    assert [r.split()[-1] for r in runs] == ["--use_xnnpack=false", "--use_gpu=true",
                                            "--use_nnapi=true"]
    assert len(list((tmp_path / "out").iterdir())) == 3


def test_truncated_output_writes_nothing_and_still_cleans_up(fake_adb, export_dir, tmp_path,
                                                            monkeypatch, capsys):
    exe, calls = fake_adb
    monkeypatch.setenv("FAKE_ADB_OUTPUT", os.path.join(FIXTURES, "truncated_crash.txt"))
    artifact, binary = export_dir
    code = _bench(artifact, binary, exe, tmp_path / "out")
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "did not finish" in err[0] and "2A1B3C" in err[0]
    assert not (tmp_path / "out").exists()
    assert calls()[-1][2:4] == ["shell", calls()[2][3].replace("mkdir -p", "rm -rf")]


def test_failed_push_still_cleans_up(fake_adb, export_dir, tmp_path, capsys):
    exe, calls = fake_adb
    artifact, binary = export_dir
    runner = android.AndroidRunner([artifact.with_name("gone.tflite")], binary, adb=exe)
    with pytest.raises(BenchError, match="cannot stat"):
        runner.__enter__()
    assert calls()[-1][2:4][0] == "shell" and calls()[-1][3].startswith("rm -rf /data/local/tmp/")


def test_several_devices_need_a_serial(fake_adb, export_dir, tmp_path, monkeypatch, capsys):
    exe, _ = fake_adb
    monkeypatch.setenv("FAKE_ADB_DEVICES", "List of devices attached\nAAA\tdevice\nBBB\tdevice\n")
    artifact, binary = export_dir
    assert _bench(artifact, binary, exe, tmp_path / "out") == 2
    assert "choose one with --serial" in capsys.readouterr().err
    assert _bench(artifact, binary, exe, tmp_path / "out", "--serial", "BBB") == 0


def test_unauthorized_device_is_listed(fake_adb, monkeypatch):
    exe, _ = fake_adb
    monkeypatch.setenv("FAKE_ADB_DEVICES", "List of devices attached\nAAA\tunauthorized\n")
    with pytest.raises(BenchError, match=r"returned: 'List of devices attached \| "
                                                 r"AAA\\tunauthorized'"):
        android.choose_device(exe)


@pytest.mark.parametrize("argv,message", [
    (["--android"], "--android needs --benchmark-binary"),
    (["--android", "--benchmark-binary", "/nonexistent"], "no such file"),
    (["--serial", "X"], "--serial only applies with --android"),
    (["--delegate", "gpu"], "--delegate only applies with --android"),
])
def test_usage_errors(argv, message, export_dir, capsys):
    artifact, _ = export_dir
    assert cli.main([str(artifact), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tinymoat-bench: error: ") and message in err[0]
