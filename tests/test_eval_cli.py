"""tinymoat-eval on a run trained by tinymoat-train (micro configuration, tiny dataset)."""

import json

import numpy as np
import pytest

from tinymoat import data as imagedata
from tinymoat import saving
from tinymoat._keras import keras
from tinymoat.preprocess import preprocess
from tinymoat.quantization import eval_cli
from tinymoat.quantization.accuracy import TFLitePredictor, Tally, topk_hits
from tinymoat.quantization.training import cli as train_cli

from conftest import make_color_images

CLASSES = ("blue", "green", "red")
MICRO = ["--variant", "tiny-moat-0", "--input-size", "32", "--override", "stem_size=8,8",
         "--override", "hidden_size=8,16,32,64", "--override", "num_blocks=1,1,1,1",
         "--override", "head_size=8", "--batch-size", "4"]


def make_images(root, classes=CLASSES, per_class=4, seed=0):
    return make_color_images(root, classes, per_class, seed, size=(36, 44))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(run folder, training folder, held-out folder with one unreadable file)."""
    root = tmp_path_factory.mktemp("eval")
    train = make_images(root / "train", per_class=5)
    held_out = make_images(root / "val", per_class=3, seed=1)
    (held_out / "green" / "broken.png").write_bytes(b"nope")
    argv = [*MICRO, "--data", str(train), "--epochs", "2", "--out",
            str(root / "run"), "--qat", "--qat-epochs", "1"]
    assert train_cli.main(argv) == 0
    keras.backend.clear_session()
    return root / "run", train, held_out


def evaluate(capsys, *argv):
    code = eval_cli.main([str(a) for a in argv])
    keras.backend.clear_session()
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def expected_float_top1(folder, held_out):
    model, meta = saving.load(folder)
    images = imagedata.load_folder(held_out, (32, 32))
    logits = model(preprocess(images.pixels, meta["config"].normalization), training=False)
    return int((np.argmax(logits, -1) == images.labels).sum())


def test_float_ptq_and_qat_accuracy_as_json_and_markdown(run, tmp_path, capsys):
    folder, train, held_out = run
    code, out, err = evaluate(capsys, "--data", held_out, "--float", folder, "--ptq", "--qat",
                              "--out", tmp_path)
    assert code == 0, err
    result = json.loads((tmp_path / "accuracy.json").read_text())
    assert result["schema"] == "tinymoat.accuracy/1" and result["num_classes"] == 3
    assert result["data"]["images"] == 9 and result["data"]["skipped"] == 1
    rows = {r["name"]: r for r in result["results"]}
    assert list(rows) == ["float", "ptq-int8", "qat-int8"]
    assert rows["float"]["correct_top1"] == expected_float_top1(folder / "float", held_out)
    assert rows["ptq-int8"]["calibration"]["source"] == str(train)
    assert rows["ptq-int8"]["calibration"]["why"] == "the run's training folder"
    assert rows["qat-int8"]["float_ops"] == [] and rows["ptq-int8"]["float_ops"] == []
    # The written INT8 files reproduce the reported numbers in LiteRT, image by image.
    images = imagedata.load_folder(held_out, (32, 32))
    x = preprocess(images.pixels, "imagenet")
    for name in ("ptq-int8", "qat-int8"):
        model = (tmp_path / rows[name]["file"]).read_bytes()
        predict = TFLitePredictor(model, num_threads=1)
        logits = np.concatenate([predict(x[i:i + 1]) for i in range(len(x))])
        assert int((np.argmax(logits, -1) == images.labels).sum()) == rows[name]["correct_top1"]
        assert rows[name]["top1_drop_points"] == pytest.approx(
            100 * (rows["float"]["top1"] - rows[name]["top1"]))
    markdown = (tmp_path / "accuracy.md").read_text()
    assert "| qat-int8 |" in markdown and "the run's training folder" in markdown
    assert out == markdown


def test_ptq_calibrates_on_eval_data_when_nothing_else_and_says_so(run, tmp_path, capsys):
    folder, _, held_out = run
    code, _, err = evaluate(capsys, "--data", held_out, "--float", folder / "float", "--ptq",
                            "--calib-limit", "4", "--limit", "6", "--out", tmp_path)
    assert code == 0, err
    result = json.loads((tmp_path / "accuracy.json").read_text())
    calib = result["results"][1]["calibration"]
    assert calib["source"] == str(held_out) and "optimistic" in calib["why"]
    assert calib["images"] + calib["skipped"] == 4
    assert result["data"]["images"] + result["data"]["skipped"] == 6


def test_float_only_run_and_bad_inputs(run, tmp_path, capsys):
    folder, _, held_out = run
    code, _, err = evaluate(capsys, "--data", held_out, "--float", folder, "--out", tmp_path)
    assert code == 0, err
    result = json.loads((tmp_path / "accuracy.json").read_text())
    assert [r["name"] for r in result["results"]] == ["float"]
    assert result["results"][0]["correct_top1"] == expected_float_top1(folder / "float",
                                                                       held_out)
    for argv, message in (
            (["--data", held_out, "--out", tmp_path], "nothing to evaluate"),
            (["--data", held_out, "--ptq", "--qat", folder / "qat", "--out", tmp_path],
             "--ptq needs --float"),
            (["--data", held_out, "--float", held_out, "--out", tmp_path],
             "not a saved tinymoat model"),
            (["--data", tmp_path / "missing", "--float", folder, "--out", tmp_path],
             "image folder not found")):
        code, _, err = evaluate(capsys, *argv)
        lines = [line for line in err.splitlines() if line.startswith("tinymoat-eval: error")]
        assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_classes_the_model_does_not_know_are_refused(run, tmp_path, capsys):
    folder, _, _ = run
    other = make_images(tmp_path / "other", classes=("blue", "purple"), per_class=1)
    code, _, err = evaluate(capsys, "--data", other, "--float", folder, "--out", tmp_path / "o")
    assert code == 2 and "purple" in err and "Traceback" not in err


def test_topk_and_tally():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5]])
    labels = np.array([1, 2, 0])
    assert topk_hits(logits, labels, 1).tolist() == [True, False, False]
    assert topk_hits(logits, labels, 2).tolist() == [True, True, False]
    tally = Tally()
    tally.add(logits, labels)
    assert tally.as_dict()["top1"] == pytest.approx(1 / 3) and tally.as_dict()["top5"] == 1.0


def _litert_outputs(model_bytes, x):
    """Dequantized outputs of a TFLite model for normalised images, one invoke per image."""
    from ai_edge_litert.interpreter import Interpreter

    from tinymoat.quantization.tensors import dequantize, quantize
    interpreter = Interpreter(model_content=model_bytes, num_threads=1)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    found = []
    for image in x:
        interpreter.set_tensor(inp["index"], quantize(image[None], inp))
        interpreter.invoke()
        found.append(dequantize(interpreter.get_tensor(out["index"]), out)[0])
    return np.stack(found)


def test_eval_scores_the_int8_graphs_that_the_export_ships(run, tmp_path, capsys):
    from tinymoat.export import cli as export_cli
    from tinymoat.quantization import int8_tflite, load_qat, tflite_ops
    folder, train, held_out = run
    code, _, err = evaluate(capsys, "--data", held_out, "--float", folder, "--ptq", "--qat",
                            "--calib-data", train, "--out", tmp_path / "eval")
    assert code == 0, err
    evaluated = {name: (tmp_path / "eval" / f"{name}_int8.tflite").read_bytes()
                 for name in ("ptq", "qat")}
    # the graph passes ran: no int8 SOFTMAX or RSQRT kernel is left for LiteRT's builtins
    for data in evaluated.values():
        assert not {"SOFTMAX", "RSQRT"} & {op.name for op in tflite_ops(data)}
    qat_model, _ = load_qat(str(folder / "qat"))
    assert int8_tflite(qat_model=qat_model) == evaluated["qat"]
    keras.backend.clear_session()

    images = imagedata.load_folder(held_out, (32, 32))
    x = preprocess(images.pixels, "imagenet")
    for name, weights in (("ptq", folder / "float"), ("qat", folder)):
        out = tmp_path / f"export-{name}"
        code = export_cli.main(["--target", "tflite", "--int8", "--weights", str(weights),
                                "--input-type", "int8", "--output-type", "int8",
                                "--outputs", "logits", "--calib-data", str(train),
                                "--val-data", str(held_out), "--threshold", "sqnr_db=0",
                                "--threshold", "top1_agreement=0", "--out", str(out)])
        keras.backend.clear_session()
        assert code == 0, capsys.readouterr().err
        shipped = next(out.glob("*.tflite")).read_bytes()
        # the shipped file only packages the evaluated graph: the same int8 codes out
        np.testing.assert_array_equal(_litert_outputs(shipped, x),
                                      _litert_outputs(evaluated[name], x))


def test_export_takes_the_run_folder_and_its_qat_ranges(run, tmp_path, capsys):
    from tinymoat.export import cli as export_cli
    from tinymoat.quantization import float_ops, tflite_ops
    folder, _, held_out = run
    code = export_cli.main(["--target", "tflite", "--int8", "--weights", str(folder),
                            "--val-data", str(held_out), "--threshold", "sqnr_db=0",
                            "--threshold", "top1_agreement=0", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 0, err
    report = json.loads((tmp_path / "report.json").read_text())
    entry = report["artifacts"][0]
    assert entry["notes"]["ranges"] == "learned in quantization-aware training"
    tflite = (tmp_path / entry["file"]).read_bytes()
    assert float_ops(tflite) == []
    # the QAT graph gets the same int8 SOFTMAX / RSQRT rewrite as a PTQ one
    assert set(entry["notes"]["integer_kernels"]) == {"SOFTMAX", "RSQRT"}
    # (the float SOFTMAX after the output's DEQUANTIZE gives the probabilities output)
    assert not {"SOFTMAX", "RSQRT"} & {op.name for op in tflite_ops(tflite)
                                       if "float32" not in op.inputs}
    assert "QAT model" in err  # the weights line names both models of the run


@pytest.mark.parametrize("flag", ["--limit", "--calib-limit", "--batch-size", "--threads"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_numbers_below_one_are_refused_before_anything_runs(flag, value, tmp_path, capsys):
    code, _, err = evaluate(capsys, "--data", tmp_path / "missing", "--float", tmp_path,
                            flag, value, "--out", tmp_path / "out")
    assert code == 2 and err.strip() == f"tinymoat-eval: error: {flag} must be at least 1"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra", [["--ptq", "--mixed"], []])
def test_a_gelu_form_needs_the_full_integer_ptq_graph(extra, tmp_path, capsys):
    code, _, err = evaluate(capsys, "--float", tmp_path, "--gelu", "tanh", *extra,
                            "--out", tmp_path / "out")
    assert code == 2 and err.startswith("tinymoat-eval: error: --gelu applies to --ptq")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
