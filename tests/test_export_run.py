"""Exporting a tinymoat-train run folder: the right reference and the run's own images.

A small run is trained on scikit-learn's handwritten digits (micro tiny-moat-0
at 32x32, float then QAT). Its INT8 TFLite file is converted from the QAT
model, so the gate compares it with the QAT model (conversion fidelity) and
its accuracy with the float model's; calibration and validation images are
the run's own unless the user names others.
"""

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tinymoat._keras import keras
from tinymoat.export import cli
from tinymoat.quantization.training import cli as train_cli

MICRO = ["--variant", "tiny-moat-0", "--input-size", "32", "--override", "stem_size=8,8",
         "--override", "hidden_size=8,16,32,64", "--override", "num_blocks=1,1,1,1",
         "--override", "head_size=8"]
TRAIN_PER_CLASS, VAL_PER_CLASS = 40, 12


def write_digits(root):
    """PNG folders root/train/<digit>/ and root/val/<digit>/ from sklearn's digits."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    rng = np.random.default_rng(0)
    for label in range(10):
        members = rng.permutation(np.flatnonzero(digits.target == label))
        for split, chosen in (("train", members[:TRAIN_PER_CLASS]),
                              ("val", members[TRAIN_PER_CLASS:TRAIN_PER_CLASS + VAL_PER_CLASS])):
            (root / split / str(label)).mkdir(parents=True, exist_ok=True)
            for index in chosen:
                pixels = (digits.images[index] * (255 / 16)).round().astype(np.uint8)
                Image.fromarray(pixels).resize((32, 32), Image.BILINEAR).convert("RGB").save(
                    root / split / str(label) / f"{index:04d}.png")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = write_digits(tmp_path_factory.mktemp("digits"))
    folder = root / "run"
    code = train_cli.main(MICRO + ["--data", str(root / "train"), "--val-data", str(root / "val"),
                                   "--epochs", "8", "--batch-size", "16", "--lr", "2e-3",
                                   "--ema-decay", "0.9", "--no-flip", "--min-crop-area", "0.6",
                                   "--qat", "--qat-epochs", "2", "--out", str(folder)])
    keras.backend.clear_session()
    assert code == 0
    stages = json.loads((folder / "run.json").read_text())["stages"]
    assert stages["float"]["val"]["top1"] > 0.8 and stages["qat"]["val"]["top1"] > 0.8
    return folder


def export(argv, capsys):
    code = cli.main(argv)
    keras.backend.clear_session()
    return code, capsys.readouterr().err


def test_qat_export_is_checked_against_the_qat_model_on_the_runs_own_images(run, tmp_path,
                                                                            capsys):
    out = tmp_path / "out"
    code, err = export(["--target", "all", "--int8", "--weights", str(run), "--out", str(out)],
                       capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    rows = {row["target"]: row for row in report["artifacts"]}
    tflite, onnx = rows["tflite"], rows["onnx"]
    assert tflite["reference"] == "qat" and onnx["reference"] == "float"
    assert tflite["passed"] and onnx["passed"]
    assert tflite["thresholds"]["sqnr_db"].startswith(">=")
    assert tflite["thresholds"]["accuracy_drop"].startswith("<=")
    # accuracy of the artifact beside the float stage's, on the same validation images
    figures = tflite["validation"]
    assert figures["float_accuracy"] == onnx["validation"]["float_accuracy"] > 0.8
    assert figures["accuracy_drop"] == pytest.approx(figures["float_accuracy"] - figures["accuracy"])
    # the run's own images, named in the report
    train, val = str(run.parent / "train"), str(run.parent / "val")
    assert report["calibration_source"].startswith(f"100 images from {train} (the run's training")
    assert report["image_source"].startswith(f"64 images from {val} (the run's validation "
                                             "images, a seeded class-balanced sample")
    assert report["images"] == 64  # --val-limit's default
    markdown = (out / "report.md").read_text()
    assert "| qat model |" in markdown and "| float model |" in markdown


def test_a_conversion_that_does_not_reproduce_the_qat_model_fails(run, tmp_path, capsys,
                                                                 monkeypatch):
    from tinymoat import quantization
    convert = quantization.qat.qat_convert

    def drifting(qat_model, **kwargs):  # a converter bug: one kernel's sign flipped
        kernel = next(w for w in qat_model.trainable_weights if "kernel" in w.name
                      and w.shape.rank == 4 and w.shape[-1] > 8)
        saved = kernel.numpy()
        kernel.assign(-saved)
        try:
            return convert(qat_model, **kwargs)
        finally:
            kernel.assign(saved)
    monkeypatch.setattr(quantization.qat, "qat_convert", drifting)
    code, err = export(["--target", "tflite", "--int8", "--weights", str(run),
                        "--out", str(tmp_path / "out")], capsys)
    assert code == 1, err
    row = json.loads((tmp_path / "out" / "report.json").read_text())["artifacts"][0]
    assert row["reference"] == "qat" and not row["passed"]
    assert any(f.startswith("sqnr_db") for f in row["failed"]), row["failed"]


def test_a_qat_model_whose_weights_were_swapped_fails_on_accuracy(run, tmp_path, capsys):
    from tinymoat import quantization
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    qat, meta = quantization.load_qat(str(copy / "qat"))
    head = next(w for w in reversed(qat.trainable_weights) if "kernel" in w.name)
    head.assign(np.roll(head.numpy(), 1, axis=-1))  # classes' weights swapped round
    shutil.rmtree(copy / "qat")
    quantization.save_qat(qat, str(copy / "qat"), config=meta["config"],
                          input_size=meta["input_size"], labels=meta["labels"])
    keras.backend.clear_session()
    code, err = export(["--target", "tflite", "--int8", "--weights", str(copy),
                        "--out", str(tmp_path / "out")], capsys)
    assert code == 1, err
    row = json.loads((tmp_path / "out" / "report.json").read_text())["artifacts"][0]
    assert row["validation"]["top1_agreement"] > 0.9  # the conversion itself is faithful
    assert [f.split()[0] for f in row["failed"]] == ["accuracy_drop"]


def test_run_images_that_are_gone_fall_back_and_say_so(run, tmp_path, capsys):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    state = json.loads((copy / "run.json").read_text())
    state["data"]["val"]["spec"] = str(tmp_path / "deleted_val")
    (copy / "run.json").write_text(json.dumps(state))
    own = tmp_path / "mine"
    shutil.copytree(run.parent / "val" / "3", own / "3")
    code, err = export(["--target", "tflite", "--int8", "--weights", str(copy), "--calib-data",
                        str(own), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["calibration_source"] == f"{VAL_PER_CLASS} images from {own} (--calib-data)"
    assert report["image_source"] == (
        f"{VAL_PER_CLASS} images from {own} (the calibration images: no --val-data; the "
        f"run's validation images cannot be read again: {tmp_path / 'deleted_val'} is no "
        "longer there)")


def test_eval_defaults_to_the_runs_validation_images(run, tmp_path, capsys):
    from tinymoat.quantization import eval_cli
    code = eval_cli.main(["--float", str(run), "--qat", "--out", str(tmp_path / "eval")])
    keras.backend.clear_session()
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "eval" / "accuracy.json").read_text())
    assert result["data"]["source"] == str(run.parent / "val")
    assert result["data"]["images"] == 10 * VAL_PER_CLASS
    assert eval_cli.main(["--float", str(run / "float"), "--out", str(tmp_path / "e2")]) == 2
    assert "give --data (held-out images): --float is not a run folder" in capsys.readouterr().err
