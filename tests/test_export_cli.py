"""tinymoat-export end to end on the micro model (a saved folder with the fixture weights)."""

import json
import os

import numpy as np
import pytest
from PIL import Image

import tinymoat
from tinymoat import saving
from tinymoat.export import cli, onnx as onnx_target
from tinymoat.export.tflite.metadata import read_metadata
from tinymoat.fileio import sha256

from conftest import MICRO, build_micro

LABELS = [f"digit_{i}" for i in range(10)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = build_micro()
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    return str(saving.save(model, tmp_path_factory.mktemp("m") / "micro",
                           config=model.moat_config, input_size=(64, 64), labels=LABELS))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label in LABELS[:3]:
        (root / label).mkdir()
        for i in range(3):
            pixels = rng.integers(0, 255, size=(80, 72, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / label / f"{i}.png")
    (root / LABELS[0] / "corrupt.jpg").write_bytes(b"not a jpeg")
    return str(root)


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_all_targets_int8_with_reports_manifest_and_metadata(saved, images, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, out, err = run(["--target", "all", "--int8", "--weights", saved, "--calib-data", images,
                          "--out", str(out_dir)], capsys)
    assert code == 0, err
    names = sorted(os.listdir(out_dir))
    assert names == ["labels.txt", "manifest.json", "report.json", "report.md",
                     "tiny-moat-0_64_int8.mlpackage", "tiny-moat-0_64_int8.onnx",
                     "tiny-moat-0_64_int8.tflite"]
    # The table is the last thing printed: one row per artifact.
    table = out.strip().splitlines()
    assert table[0].split()[:4] == ["artifact", "size", "precision", "agreement"]
    assert [row.split()[0] for row in table[1:]] == ["tflite", "onnx", "coreml"]
    assert "1 unreadable skipped" in err and "saved model" in err

    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["variant"] == "tiny-moat-0" and manifest["input_size"] == [64, 64]
    for entry in manifest["artifacts"]:
        assert entry["sha256"] == sha256(out_dir / entry["file"])
    report = json.loads((out_dir / "report.json").read_text())
    by_target = {a["target"]: a for a in report["artifacts"]}
    assert by_target["tflite"]["passed"] and by_target["onnx"]["passed"]
    assert by_target["tflite"]["checks"]["float_ops"] == []
    assert by_target["coreml"]["numerics_run"] is True
    assert "reference executor" in (out_dir / "report.md").read_text()

    # Labels and normalisation travel with every artifact.
    meta = read_metadata((out_dir / "tiny-moat-0_64_int8.tflite").read_bytes())
    assert meta["labels"] == LABELS
    assert meta["input"]["mean"] == [0.0, 0.0, 0.0]  # uint8 input: raw pixels, normalised in graph
    onnx_meta = onnx_target.describe_model(str(out_dir / "tiny-moat-0_64_int8.onnx"))["metadata"]
    assert onnx_meta["tinymoat.labels"] == LABELS
    assert (out_dir / "labels.txt").read_text().split() == LABELS


def test_mixed_int8_computes_softmax_rsqrt_and_gelu_in_float(saved, images, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, _, err = run(["--target", "all", "--int8", "--mixed", "--weights", saved,
                        "--calib-data", images, "--out", str(out_dir)], capsys)
    assert code == 0, err
    # Only TFLite has a mixed graph; "all" takes the targets that have the precision.
    assert "tiny-moat-0_64_int8-mixed.tflite" in os.listdir(out_dir)
    assert not [n for n in os.listdir(out_dir) if n.endswith((".onnx", ".mlpackage"))]
    artifact = json.loads((out_dir / "report.json").read_text())["artifacts"][0]
    assert artifact["precision"] == "int8-mixed" and artifact["passed"]
    # quantized from the exact GELU: every GELU is a float island too
    gelus = sum(isinstance(layer, tinymoat.layers.Gelu) for layer in build_micro().layers)
    assert artifact["notes"]["float_islands"] == {"SOFTMAX": 3, "RSQRT": 4, "GELU": gelus}


def test_uint8_input_takes_camera_pixels_unchanged(saved, images, tmp_path, capsys):
    code, _, err = run(["--target", "tflite", "--int8", "--weights", saved, "--calib-data", images,
                        "--out", str(tmp_path)], capsys)
    assert code == 0, err
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_path=str(tmp_path / "tiny-moat-0_64_int8.tflite"))
    detail = interpreter.get_input_details()[0]
    assert detail["dtype"] == np.uint8 and detail["quantization"] == (1.0, 0)


def test_same_inputs_give_byte_identical_tflite(saved, images, tmp_path, capsys):
    digests = []
    for name in ("a", "b"):
        code, _, err = run(["--target", "tflite", "--weights", saved, "--calib-data", images,
                            "--out", str(tmp_path / name)], capsys)
        assert code == 0, err
        digests.append(sha256(tmp_path / name / "tiny-moat-0_64_float32.tflite"))
    assert digests[0] == digests[1]


@pytest.mark.parametrize("argv,message", [
    (["--target", "tflite", "--weights", "/no/such/ckpt"], "weights not found"),
    (["--target", "tflite", "--input-size", "100"], "not a positive multiple of 32"),
    (["--target", "tflm"], "unknown target 'tflm'"),
    (["--target", "onnx", "--dynamic"], "target onnx does not support --dynamic"),
    (["--target", "coreml", "--int8", "--ios", "14"], "ML Programs need iOS 15"),
    (["--target", "onnx", "--int8", "--calibration", "mse"], "not one of ONNX Runtime's"),
    (["--target", "tflite", "--mixed"], "--mixed only applies to --int8"),
    (["--target", "onnx", "--int8", "--mixed"], "target onnx does not support --int8 --mixed"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(argv, message, tmp_path, capsys):
    out_dir = tmp_path / "out"
    code, _, err = run(argv + ["--out", str(out_dir)], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("tinymoat-export: error:")]
    assert len(lines) == 1 and message in lines[0], err
    assert not out_dir.exists() or not os.listdir(out_dir)


def test_weights_that_do_not_fit_the_variant(saved, tmp_path, capsys):
    garbage = tmp_path / "garbage.ckpt"
    (tmp_path / "garbage.ckpt.index").write_bytes(b"\0" * 64)
    for argv, message in (
            (["--weights", saved, "--variant", "tiny-moat-1"], "holds a tiny-moat-0 model"),
            (["--weights", str(garbage)], "cannot read checkpoint"),
            (["--weights", str(MICRO / "model.ckpt")], "checkpoint does not fit the model")):
        code, _, err = run(["--target", "tflite", "--out", str(tmp_path / "o")] + argv, capsys)
        assert code == 2 and message in err, err
    assert not (tmp_path / "o").exists() or not os.listdir(tmp_path / "o")


def test_empty_or_corrupt_calibration_folders(tmp_path, saved, capsys):
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    (empty / "a" / "x.png").write_bytes(b"\x89PNG broken")
    code, _, err = run(["--target", "tflite", "--int8", "--weights", saved, "--calib-data",
                        str(empty), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "--calib-data: no readable images" in err


@pytest.mark.parametrize("argv,message", [
    (["--num-classes", "0"], "--num-classes must be at least 2"),
    (["--val-limit", "-1"], "--val-limit must be at least 1, got -1"),
    (["--val-limit", "0"], "--val-limit must be at least 1"),
    (["--calib-limit", "0"], "--calib-limit must be at least 1"),
    (["--target", "coreml", "--ios", "99"], "minimum iOS 99 is not supported"),
    (["--threshold", "top1_agrement=0.9"], "did you mean top1_agreement"),
    (["--threshold", "top1_agreement=1.5"], "outside [0, 1]"),
])
def test_every_option_is_checked_before_any_work(argv, message, tmp_path, capsys):
    argv = (["--target", "tflite"] if "--target" not in argv else []) + argv
    code, _, err = run(argv + ["--out", str(tmp_path / "out")], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("tinymoat-export: error: ")
    assert message in lines[0]  # and nothing was loaded: no "load model" step line
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("content,message", [
    (b"\xff\xfe\x00c\x00a\x00t", "is not UTF-8 text"),
    (b"cat\0dog\n" + b"x\n" * 8, "is not text"),
    ("\n".join(LABELS[:9] + ["digit_3"]).encode(), "'digit_3' is the name of classes 4 and 10"),
])
def test_labels_files_must_be_unique_utf8_names(content, message, saved, tmp_path, capsys):
    (tmp_path / "labels.txt").write_bytes(content)
    code, _, err = run(["--target", "tflite", "--weights", saved, "--labels",
                        str(tmp_path / "labels.txt"), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()


def test_an_earlier_export_in_out_is_replaced_whole(saved, images, tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert run(["--target", "tflite", "--weights", saved, "--calib-data", images,
                "--out", str(out_dir)], capsys)[0] == 0
    code, _, err = run(["--target", "tflite", "--int8", "--weights", saved, "--calib-data",
                        images, "--out", str(out_dir)], capsys)
    assert code == 0 and "replacing the previous export" in err
    manifest = json.loads((out_dir / "manifest.json").read_text())
    listed = [a["file"] for a in manifest["artifacts"]]
    assert listed == ["tiny-moat-0_64_int8.tflite"]  # the float32 file went with its export
    assert sorted(os.listdir(out_dir)) == sorted(listed + ["labels.txt", "manifest.json",
                                                           "report.json", "report.md"])
    (out_dir / "notes.txt").write_text("mine")
    code, _, err = run(["--target", "tflite", "--weights", saved, "--out", str(out_dir)], capsys)
    assert code == 2 and "not part of a tinymoat export (e.g. notes.txt)" in err
    assert (out_dir / "tiny-moat-0_64_int8.tflite").exists()


def test_a_failing_export_leaves_the_previous_one_untouched(saved, images, tmp_path, capsys,
                                                            monkeypatch):
    out_dir = tmp_path / "out"
    assert run(["--target", "tflite", "--weights", saved, "--calib-data", images,
                "--out", str(out_dir)], capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    from tinymoat.export import onnx as onnx_module

    def broken(*args, **kwargs):
        raise RuntimeError("converter crashed")
    monkeypatch.setattr(onnx_module.OnnxTarget, "export", broken)
    with pytest.raises(RuntimeError, match="converter crashed"):
        cli.main(["--target", "all", "--weights", saved, "--calib-data", images,
                  "--out", str(out_dir)])
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no work folder left beside it


@pytest.mark.parametrize("signum,code,word", [(2, 130, "interrupted"), (15, 143, "terminated")])
def test_stopping_an_export_is_one_line_and_leaves_no_debris(signum, code, word, saved, tmp_path):
    import signal
    import subprocess
    import sys
    import time
    out_dir, system_tmp = tmp_path / "out", tmp_path / "system_tmp"
    system_tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(system_tmp))
    process = subprocess.Popen([sys.executable, "-m", "tinymoat.export.cli", "--target", "tflite",
                                "--weights", saved, "--out", str(out_dir)],
                               stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for line in process.stderr:  # stop it while the converter runs
        lines.append(line)
        if "export tiny-moat-0_64_float32.tflite ..." in line:
            time.sleep(1.0)
            process.send_signal(signum)
            break
    lines += process.stderr.readlines()
    assert process.wait(timeout=120) == code, "".join(lines)
    assert lines[-1] == f"tinymoat-export: {word}; --out left as it was\n"
    assert "Traceback" not in "".join(lines)
    assert not out_dir.exists() and os.listdir(tmp_path) == ["system_tmp"]
    assert os.listdir(system_tmp) == []  # autograph and converter files went to the work folder


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_stop_swallowed_inside_a_converter_still_stops_the_export(signum):
    # A signal handler runs wherever Python is; a converter's `except BaseException` or a
    # finalizer can swallow the exception. The next step boundary must raise it again.
    import signal
    from tinymoat.export import progress
    raised = KeyboardInterrupt if signum == "SIGINT" else progress.Terminated
    progress.reset_stop()
    try:
        try:
            progress.request_stop(getattr(signal, signum))
        except BaseException:
            pass  # what a converter's broad except would do
        with pytest.raises(raised):
            with progress.step("next step"):
                pass
        with pytest.raises(raised):
            progress.check_stop()
    finally:
        progress.reset_stop()
    with progress.step("after a new start"):
        pass
