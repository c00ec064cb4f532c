"""Core ML target on Linux: conversion, the saved spec read back, the preprocessing maths,
and predictions through the reference executor."""

import subprocess
import sys

import numpy as np
import pytest

import tinymoat
from conftest import MICRO, build_micro
from tinymoat.export import targets
from tinymoat.export.coreml import executor as coreml_executor
from tinymoat.export.cli import main
from tinymoat.export.coreml import (CoreMLTarget, compact_relative_bias, convert, rewrite,
                                    coreml_keras_model, deployment_target, image_preprocessing)
from tinymoat.export.options import check_args, parser
from tinymoat.fileio import size_bytes
from tinymoat.export.target import ExportError, ExportJob

LABELS = [f"class {i}" for i in range(9)] + ["ünïcode"]
MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])
TARGET = CoreMLTarget()


def _job(model, minimum_ios="16", normalization="imagenet"):
    return ExportJob(model=model, variant="tiny-moat-0", input_size=(64, 64), labels=LABELS,
                     normalization=normalization, minimum_ios=minimum_ios,
                     calibration=np.zeros((1, 64, 64, 3), np.uint8))


def _tree_hash(path):
    return subprocess.run(f"cd '{path}' && find . -type f | sort | xargs sha256sum",
                          shell=True, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def model():
    model = build_micro(batch_size=1)
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    return model


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    """{precision: (package path, the notes export returned)}."""
    folder = tmp_path_factory.mktemp("coreml")
    job = _job(model)
    results = {}
    for precision in ("float16", "dynamic"):    # the command line's --dynamic is weights8
        path = str(folder / TARGET.file_name(job, TARGET.precisions[precision]))
        results[TARGET.precisions[precision]] = (path, TARGET.export(job, precision, path))
    return results


@pytest.fixture(scope="module")
def packages(exported):
    return {precision: path for precision, (path, _) in exported.items()}


@pytest.mark.parametrize("precision", ["float16", "weights8"])
def test_package_is_an_image_classifier_for_ios16(packages, precision):
    info = TARGET.describe(packages[precision])
    assert info["format"] == "coreml mlprogram"
    assert info["minimum_ios"] == "16" and info["specification_version"] == 7
    assert info["is_classifier"] and info["class_labels"] == len(LABELS)
    assert [o["name"] for o in info["outputs"]] == ["classLabel", "classLabel_probs", "logits"]
    assert info["mil_ops"]["classify"] == 1 and info["mil_ops"]["softmax"] >= 1
    image = info["image_input"]
    assert (image["name"], image["width"], image["height"], image["color_layout"]) == (
        "image", 64, 64, "RGB")
    assert all(info["checks"].values()), info["checks"]


@pytest.mark.parametrize("precision", ["float16", "weights8"])
def test_image_scale_bias_and_channel_multiply_give_the_normalisation(packages, precision):
    image = TARGET.describe(packages[precision])["image_input"]
    assert image["scale"] == pytest.approx([1 / STD[0]], rel=1e-7)
    assert image["bias"] == pytest.approx(-MEAN / STD[0], rel=1e-7)
    # float16 program: the multiply is stored in float16
    assert image["channel_scale"] == pytest.approx(STD[0] / STD, rel=1e-3)


def test_float16_weights_are_float16_and_weights8_has_int8_weights(packages):
    half = TARGET.describe(packages["float16"])
    assert set(half["weight_dtypes"]) == {"float16"}
    assert "constexpr_affine_dequantize" not in half["mil_ops"]
    w8 = TARGET.describe(packages["weights8"])
    assert w8["weight_dtypes"]["int8"] >= 10            # every weight above 2048 elements
    assert w8["mil_ops"]["constexpr_affine_dequantize"] == w8["weight_dtypes"]["int8"]
    assert "float32" not in w8["weight_dtypes"]


@pytest.mark.parametrize("precision", ["float16", "weights8"])
def test_metadata_round_trips(packages, precision):
    info = TARGET.describe(packages[precision])
    meta = info["metadata"]
    assert meta["tinymoat.labels"] == LABELS
    assert meta["tinymoat.mean"] == pytest.approx(MEAN.tolist())
    assert meta["tinymoat.std"] == pytest.approx(STD.tolist())
    assert meta["tinymoat.normalization"] == "imagenet"
    assert meta["tinymoat.precision"] == precision
    assert meta["tinymoat.minimum_ios"] == "16"
    assert meta["tinymoat.input_size"] == [64, 64]
    assert "com.github.apple.coremltools.conversion_date" not in meta
    assert (info["author"], info["license"], info["version"]) == (
        "tinymoat", "Apache-2.0", tinymoat.__version__)
    assert "softmax probabilities" in info["short_description"]


def test_exports_are_identical_file_by_file(model, packages, tmp_path):
    again = str(tmp_path / "again.mlpackage")
    TARGET.export(_job(model), "float16", again)
    assert _tree_hash(again) == _tree_hash(packages["float16"])


@pytest.mark.skipif(sys.platform == "darwin", reason="Core ML runs on macOS")
@pytest.mark.parametrize("precision", ["float16", "weights8"])
def test_predict_off_macos_runs_the_reference_executor(model, exported, precision):
    path, notes = exported[precision]
    assert notes["numerics"].startswith("reference executor") and "macOS" in notes["numerics"]
    pixels = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    logits = TARGET.predict(path, pixels)
    assert logits.shape == (2, len(LABELS)) and logits.dtype == np.float32
    expected = model(_job(model).normalized(pixels)).numpy()
    np.testing.assert_allclose(logits, expected, atol=0.05 * np.abs(expected).max())
    with pytest.raises(ValueError, match=r"expected pixels \[N, 64, 64, 3\]"):
        TARGET.predict(path, np.zeros((1, 32, 32, 3), np.uint8))


@pytest.mark.parametrize("version", ["14", "13", "ios12"])
def test_minimum_ios_below_15_is_an_export_error(model, tmp_path, version):
    with pytest.raises(ExportError, match="iOS 15"):
        TARGET.export(_job(model, minimum_ios=version), "float16", str(tmp_path / "x.mlpackage"))
    assert deployment_target("iOS17") is not None


def test_weights8_needs_ios16(model, tmp_path):
    with pytest.raises(ExportError, match="iOS 16"):
        TARGET.export(_job(model, minimum_ios="15"), "weights8", str(tmp_path / "x.mlpackage"))


def test_wrapper_reproduces_the_model_from_image_input_values(model):
    """What the image input computes (x * scale + bias) then the wrapper = job.model(normalised)."""
    job = _job(model)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    scale, bias, channel = image_preprocessing("imagenet")
    assert channel == pytest.approx((STD[0] / STD).tolist())
    wrapper = coreml_keras_model(job)
    image_input = (pixels.astype(np.float32) * np.float32(scale) + np.float32(bias))
    for i in range(len(pixels)):
        probabilities, logits = (t.numpy() for t in wrapper(image_input[i:i + 1]))
        expected = model(job.normalized(pixels[i:i + 1])).numpy()
        np.testing.assert_allclose(logits, expected, atol=2e-5, rtol=0)
        np.testing.assert_allclose(probabilities, np.exp(logits) / np.exp(logits).sum(),
                                   atol=1e-6)


def test_equal_std_needs_no_channel_multiply(model):
    scale, bias, channel = image_preprocessing("inception")
    assert channel is None and scale == pytest.approx(1 / 127.5) and bias == [-1.0] * 3
    wrapper = coreml_keras_model(_job(model, normalization="inception"))
    assert all(layer.name != "channel_scale" for layer in wrapper.layers)


@pytest.mark.parametrize("precision,ios,spec_version,weights,quantizer", [
    ("float32", "17", 8, "float32", None),
    ("weights8", "18", 9, "int8", "constexpr_blockwise_shift_scale"),
])
def test_other_precisions_and_deployment_targets(model, tmp_path, precision, ios, spec_version,
                                                 weights, quantizer):
    path = str(tmp_path / f"{precision}.mlpackage")
    TARGET.export(_job(model, minimum_ios=ios), precision, path)
    info = TARGET.describe(path)
    assert (info["minimum_ios"], info["specification_version"]) == (ios, spec_version)
    assert info["weight_dtypes"][weights] >= 10
    assert quantizer is None or info["mil_ops"][quantizer] == info["weight_dtypes"]["int8"]
    assert all(info["checks"].values()), info["checks"]
    if precision == "float32":  # no float16 rounding anywhere: the normalisation is exact
        channel = info["image_input"]["channel_scale"]
        assert channel == pytest.approx(STD[0] / STD, rel=1e-7)


def test_dynamic_is_weights8_and_each_precision_states_weights_and_activations(packages):
    assert [(t.name, p) for t, p in targets.resolve("coreml", "dynamic")] == [
        ("coreml", "weights8")]
    assert [(t.name, p) for t, p in targets.resolve("coreml", "int8")] == [("coreml", "int8")]
    assert TARGET.precision_detail("dynamic") == {"weights": "int8", "activations": "float16"}
    assert TARGET.precision_detail("int8") == {"weights": "int8", "activations": "int8"}
    assert TARGET.precision_detail("float32") == {"weights": "float32",
                                                  "activations": "float32"}
    for precision, path in packages.items():
        info = TARGET.describe(path)
        detail = TARGET.precision_detail(precision)
        assert (info["metadata"]["tinymoat.weights"],
                info["metadata"]["tinymoat.activations"]) == (detail["weights"],
                                                              detail["activations"])
        assert info["quantized_activations"] == 0 and info["checks"]["activations"]


def test_int8_below_ios17_is_a_one_line_error_before_anything_loads(tmp_path, capsys):
    code = main(["--target", "coreml", "--int8", "--ios", "16", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err
    assert err.startswith("tinymoat-export: error: coreml: int8 needs --ios 17"), err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("flags,ios", [(["--int8"], "17"), (["--dynamic"], "16"), ([], "16"),
                                       (["--int8", "--ios", "18"], "18")])
def test_default_ios_is_the_lowest_the_precision_allows(flags, ios):
    args = parser().parse_args(["--target", "coreml", *flags])
    check_args(args)
    assert args.ios == ios


def test_compact_relative_bias_is_smaller_and_exact_in_float32(tmp_path):
    """At 96x96 the micro model's 6x6 attention windows make dense biases worth replacing."""
    import coremltools as ct
    from test_coreml_executor import _randomize
    model = _randomize(build_micro(batch_size=1, input_size=96), seed=3)
    job = ExportJob(model=model, variant="tiny-moat-0", input_size=(96, 96), labels=LABELS,
                    normalization="imagenet", calibration=np.zeros((1, 96, 96, 3), np.uint8))
    dense, logits = convert(job, "float32", ct.target.iOS16)
    notes = {}
    compact = rewrite(dense, [lambda program: compact_relative_bias(program, notes)])
    paths = {name: str(tmp_path / f"{name}.mlpackage") for name in ("dense", "compact")}
    dense.save(paths["dense"])
    compact.save(paths["compact"])
    ops = {name: [op.type for op in coreml_executor.load(path).block.operations]
           for name, path in paths.items()}
    assert ops["compact"].count("gather") == 2 and "gather" not in ops["dense"], notes
    assert "2 dense bias constants" in notes["relative_bias"]
    saved = size_bytes(paths["dense"]) - size_bytes(paths["compact"])
    assert saved > 2 * 4 * 36 * 36 * 4 * 0.8       # two blocks' [4, 36, 36] float32 biases
    pixels = np.random.default_rng(0).integers(0, 256, (2, 96, 96, 3), dtype=np.uint8)
    outputs = {name: coreml_executor.load(path).predict(pixels, logits)
               for name, path in paths.items()}
    np.testing.assert_array_equal(outputs["compact"], outputs["dense"])


@pytest.mark.parametrize("low, high", [(0.0, 1e-9), (-3e-7, 2e-7), (0.0, 0.0), (-2.5, 7.0)])
def test_activation_ranges_give_a_usable_int8_grid_in_float16(low, high):
    # Random weights give near-constant tensors: their scale must not round to 0 in
    # float16 (the quantize op refuses it), and 0.0 must stay exactly representable.
    from tinymoat.export.coreml import activation_quantization
    scale, zero = activation_quantization(low, high, np.float16)
    assert scale.dtype == np.float16 and float(scale) > 0 and np.isfinite(scale)
    assert -128 <= int(zero) <= 127
    assert (np.rint(0.0 / float(scale)) + int(zero) - int(zero)) * float(scale) == 0.0
    codes = np.clip(np.rint(np.array([low, high], np.float64) / float(scale)) + int(zero), -128, 127)
    back = (codes - int(zero)) * float(scale)
    assert np.all(np.abs(back - [low, high]) <= float(scale))
