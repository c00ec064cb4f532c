"""gelu="tanh": GELU's tanh form in int8 ops XNNPACK runs (TanhGelu), and --gelu tanh."""

import json

import numpy as np
import pytest

import tinymoat
from tinymoat._keras import keras
from tinymoat.layers import Gelu, gelu
from tinymoat.quantization import deploy_model, gelu_form, ptq_convert, quantize_model
from tinymoat.quantization.deploy import GELU_SIGMOID_SLOPE
from tinymoat.quantization.layers import SigmoidGate, TanhGelu

from ai_edge_litert.interpreter import Interpreter

from conftest import MICRO, build_micro, delegated_partitions, int8_logits

L = keras.layers


def test_tanh_gelu_is_within_5e_4_of_the_exact_gelu():
    x = np.linspace(-10, 10, 4001, dtype=np.float32).reshape(1, 1, -1, 1)
    exact = gelu(x).numpy()
    tanh_error = np.abs(TanhGelu()(x).numpy() - exact).max()
    sigmoid_error = np.abs(SigmoidGate(GELU_SIGMOID_SLOPE)(x).numpy() - exact).max()
    assert tanh_error < 5e-4 < 0.02 < sigmoid_error


def test_deploy_model_puts_tanh_gelu_in_place_of_every_gelu():
    micro = build_micro()
    tinymoat.load_deeplab2_checkpoint(micro, MICRO / "model.ckpt")
    deployed = deploy_model(micro, gelu="tanh")
    gelus = sum(isinstance(layer, Gelu) for layer in micro.layers)
    assert sum(isinstance(layer, TanhGelu) for layer in deployed.layers) == gelus > 0
    assert not any(isinstance(layer, (Gelu, SigmoidGate)) for layer in deployed.layers
                   if "act" in layer.name)
    x = np.random.RandomState(1).randn(2, 64, 64, 3).astype(np.float32)
    expected = micro(x).numpy()
    error = deployed(x).numpy() - expected
    assert 10 * np.log10(np.sum(expected ** 2) / np.sum(error ** 2)) > 60


def _conv_gelu(seed=0):
    """Conv 1x1 -> GELU, pre-activations mostly within [-4, 4]: where the forms differ."""
    inputs = keras.Input((8, 8, 16), batch_size=1)
    conv = L.Conv2D(32, 1)
    model = keras.Model(inputs, Gelu()(conv(inputs)))
    rng = np.random.RandomState(seed)
    conv.set_weights([rng.randn(1, 1, 16, 32).astype(np.float32) * 0.2,
                      rng.uniform(-2.5, 2.5, 32).astype(np.float32)])
    return model


def test_int8_tanh_gelu_is_closer_to_gelu_and_stays_in_one_xnnpack_partition():
    model = _conv_gelu()
    rng = np.random.RandomState(1)
    calibration, held = (rng.randn(32, 8, 8, 16).astype(np.float32) for _ in range(2))
    exact = model(held).numpy()
    rms, bias = {}, {}
    for form in ("sigmoid", "tanh"):
        tflite = ptq_convert(model, calibration, gelu=form)  # raises if not fully integer
        assert delegated_partitions(tflite) == (1, [])
        error = int8_logits(tflite, held) - exact
        rms[form], bias[form] = np.sqrt(np.mean(error ** 2)), abs(error.mean())
    # int8 rounding is common to both; the sigmoid form adds its approximation error,
    # which does not average out (measured: rms 0.0154 vs 0.0119, bias 0.0047 vs 0.0004).
    assert rms["tanh"] < 0.85 * rms["sigmoid"] and bias["tanh"] < 0.3 * bias["sigmoid"], (rms, bias)


def test_tanh_gelu_ranges_are_fixed_in_the_int8_graph():
    tflite = ptq_convert(_conv_gelu(), np.random.RandomState(2).randn(16, 8, 8, 16)
                         .astype(np.float32), gelu="tanh")
    interpreter = Interpreter(model_content=tflite)
    params = [d["quantization"] for d in interpreter.get_tensor_details()]
    # x^2 on [0, 9] (zero point -128) and the logit on [-8, 8] (narrow, zero point 0),
    # whatever the calibration data spans
    assert sum(np.isclose(s, 9 / 255) and z == -128 for s, z in params) == 1
    assert sum(np.isclose(s, 8 / 127) and z == 0 for s, z in params) == 1


def test_unknown_gelu_form_is_refused():
    with pytest.raises(ValueError, match="gelu must be one of"):
        deploy_model(_conv_gelu(), gelu="cubic")


def test_export_cli_gelu_tanh(tmp_path, capsys):
    from tinymoat import saving
    from tinymoat.export import cli
    model = build_micro()
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    saved = str(saving.save(model, tmp_path / "micro", config=model.moat_config,
                            input_size=(64, 64), labels=[str(i) for i in range(10)]))
    out_dir = tmp_path / "out"
    code = cli.main(["--target", "tflite", "--int8", "--gelu", "tanh", "--weights", saved,
                     "--out", str(out_dir)])
    err = capsys.readouterr().err
    assert code == 0, err
    artifact = json.loads((out_dir / "report.json").read_text())["artifacts"][0]
    assert artifact["passed"] and artifact["notes"]["gelu"] == "tanh form, int8"
    assert artifact["checks"]["float_ops"] == []

    code = cli.main(["--target", "tflite", "--int8", "--mixed", "--gelu", "tanh",
                     "--weights", saved, "--out", str(tmp_path / "mixed")])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().splitlines()[-1].startswith(
        "tinymoat-export: error: --gelu only applies to --int8 without --mixed")
    assert not (tmp_path / "mixed").exists()


def test_quantize_model_trains_the_form_it_is_given():
    micro = build_micro()
    assert gelu_form(micro) == "erf"
    assert gelu_form(quantize_model(micro)) == "sigmoid"
    tanh = quantize_model(micro, gelu="tanh")
    assert gelu_form(tanh) == "tanh"
    assert not any("Gelu" == type(getattr(layer, "layer", layer)).__name__ for layer in tanh.layers)
    assert gelu_form(quantize_model(deploy_model(micro, gelu="tanh"))) == "tanh"  # kept
    with pytest.raises(ValueError, match="gelu must be one of"):
        quantize_model(micro, gelu="cubic")


def test_export_cli_keeps_the_gelu_form_of_a_qat_run_folder(tmp_path, capsys):
    from tinymoat import saving
    from tinymoat.export import cli
    from tinymoat.quantization import initialize_ranges, save_qat
    model = build_micro()
    tinymoat.load_deeplab2_checkpoint(model, MICRO / "model.ckpt")
    run = tmp_path / "run"
    saving.save(model, run / "float", config=model.moat_config, input_size=(64, 64),
                labels=[str(i) for i in range(10)])
    qat = quantize_model(model, gelu="tanh")
    initialize_ranges(qat, np.random.RandomState(3).randn(8, 64, 64, 3).astype(np.float32))
    save_qat(qat, run / "qat", input_size=(64, 64))
    code = cli.main(["--target", "tflite", "--int8", "--weights", str(run),
                     "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    artifact = json.loads((tmp_path / "out" / "report.json").read_text())["artifacts"][0]
    assert artifact["notes"]["gelu"] == "tanh form, int8"
    assert artifact["notes"]["ranges"] == "learned in quantization-aware training"
    assert artifact["checks"]["float_ops"] == []

    code = cli.main(["--target", "tflite", "--int8", "--gelu", "tanh", "--weights", str(run),
                     "--out", str(tmp_path / "again")])
    err = capsys.readouterr().err
    assert code == 2 and "has a QAT model, which keeps the GELU form" in err.strip().splitlines()[-1]
    assert not (tmp_path / "again").exists()
