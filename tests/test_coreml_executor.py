"""The NumPy reference executor of Core ML ML Programs (export/coreml/executor.py).

Small Keras models converted by coremltools check the op implementations
against TensorFlow, in float32 and float16 programs; the micro tiny-MOAT
export checks the whole classifier (image input, labels) against the Keras
model, and deliberately broken packages check that validation notices.
"""

import dataclasses
import shutil

import numpy as np
import pytest

import tinymoat  # noqa: F401  (selects tf_keras before TensorFlow loads)
from conftest import loaded_micro
from tinymoat._keras import keras, tf
from tinymoat.data import sample_photo_crops
from tinymoat.export import thresholds, validate
from tinymoat.export.coreml import executor as coreml_executor
from tinymoat.export.coreml import CoreMLTarget, numerics_source
from tinymoat.export.coreml.executor import UnsupportedOp
from tinymoat.export.target import ExportError, ExportJob
from tinymoat.layers.activation import gelu

TARGET = CoreMLTarget()
LABELS = [f"label {i}" for i in range(10)]
PRECISIONS = {"float32": "FLOAT32", "float16": "FLOAT16"}


# ------------------------------------------------------------------ helpers

def _randomize(model, seed=0):
    """Random weights, biases and BatchNorm statistics: no op may hide behind a zero or one."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape, name = weight.shape, weight.name
        if "moving_variance" in name:
            weight.assign(rng.uniform(0.5, 2.0, shape))
        elif "kernel" in name:
            weight.assign(rng.normal(0.0, 0.4, shape))
        else:
            weight.assign(rng.uniform(-0.5, 0.5, shape))
    return model


def convert(model, shape, folder, name, precision="float32", ios="16"):
    import coremltools as ct
    program = ct.convert(model, source="tensorflow", convert_to="mlprogram",
                         inputs=[ct.TensorType(shape=shape, name="x")],
                         compute_precision=getattr(ct.precision, PRECISIONS[precision]),
                         minimum_deployment_target=getattr(ct.target, f"iOS{ios}"),
                         skip_model_load=True)
    path = str(folder / f"{name}_{precision}_ios{ios}.mlpackage")
    program.save(path)
    return path


def _run(path, x):
    """The only output of a converted Keras model, for input x."""
    (out,) = coreml_executor.load(path).run({"x": x}).values()
    return out


def _ops(path):
    return {op.type for op in coreml_executor.load(path).block.operations}


def _close(out, ref, precision):
    """float32: to rounding; float16: to a few float16 steps of the output's range."""
    tolerance = 1e-5 if precision == "float32" else 1e-2
    np.testing.assert_allclose(np.asarray(out, np.float32), ref, rtol=0,
                               atol=tolerance * np.abs(ref).max())


def _edited(package, folder, name, edit):
    """A copy of the package whose spec `edit(spec)` changed."""
    copy = folder / f"{name}.mlpackage"
    shutil.copytree(package, copy)
    spec_path, _ = coreml_executor.package_files(str(copy))
    spec = coreml_executor.read_spec(spec_path)
    edit(spec)
    with open(spec_path, "wb") as f:
        f.write(spec.SerializeToString())
    return str(copy)


def _main_ops(spec):
    main = spec.mlProgram.functions["main"]
    return main.block_specializations[main.opset].operations


def _const_of(spec, op, name):
    """The const op bound to input `name` of op."""
    bound = op.inputs[name].arguments[0].name
    return next(c for c in _main_ops(spec) if c.type == "const" and c.outputs[0].name == bound)


def _set_gelu_mode(mode):
    def edit(spec):
        for op in _main_ops(spec):
            if op.type == "gelu":
                value = _const_of(spec, op, "mode").attributes["val"].immediateValue.tensor
                value.strings.values[0] = mode
    return edit


# ------------------------------------------------------------------ small Keras models

def conv_model():
    """Stride-2 SAME conv on an odd size (asymmetric padding), dilated depthwise conv,
    both GELU forms, SAME average pooling, BatchNorm, squeeze-excite, dense, softmax."""
    x = inputs = keras.Input((15, 16, 3), batch_size=1, name="x")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same")(x)
    x = keras.layers.Activation(gelu)(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", dilation_rate=2)(x)
    x = keras.layers.Activation(lambda t: tf.nn.gelu(t, approximate=True))(x)
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same")(x)
    x = keras.layers.BatchNormalization()(x + 1.0)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    s = keras.layers.Conv2D(4, 1, activation="swish")(s)
    x = x * keras.layers.Conv2D(8, 1, activation="sigmoid")(s)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="valid")(x)
    x = keras.layers.Dense(5)(keras.layers.Flatten()(x))
    return keras.Model(inputs, keras.layers.Softmax()(x))


def attention_model():
    """LayerNorm, q/k/v projections, heads split by reshape and transpose, q.k^T,
    softmax, attention values, then a norm written out (mean, sub, square, rsqrt)."""
    x = inputs = keras.Input((6, 16), batch_size=1, name="x")
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    x = tf.reshape(x, (6, 16))

    def heads(t):
        return tf.transpose(tf.reshape(t, (1, 6, 2, 8)), (0, 2, 1, 3))

    q, k, v = (heads(keras.layers.Dense(16)(x)) for _ in range(3))
    weights = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) * 0.35, axis=-1)
    o = tf.reshape(tf.transpose(tf.matmul(weights, v), (0, 2, 1, 3)), (1, 6, 16))
    mean = tf.reduce_mean(o, -1, keepdims=True)
    variance = tf.reduce_mean(tf.math.squared_difference(o, mean), -1, keepdims=True)
    return keras.Model(inputs, (o - mean) * tf.math.rsqrt(variance + 1e-6))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("coreml_executor")


@pytest.mark.parametrize("precision", ["float32", "float16"])
@pytest.mark.parametrize("build,shape,ops", [
    (conv_model, (1, 15, 16, 3), {"conv", "gelu", "avg_pool", "batch_norm", "reduce_mean",
                                  "silu", "sigmoid", "mul", "add", "transpose", "reshape",
                                  "linear", "softmax"}),
    (attention_model, (1, 6, 16), {"layer_norm", "linear", "reshape", "transpose", "matmul",
                                   "softmax", "reduce_mean", "sub", "square", "rsqrt", "mul"}),
])
def test_small_programs_match_tensorflow(folder, build, shape, ops, precision):
    model = _randomize(build())
    path = convert(model, shape, folder, build.__name__, precision)
    assert ops <= _ops(path)
    x = np.random.default_rng(1).normal(0, 1, shape).astype(np.float32)
    out = _run(path, x)
    assert out.dtype == (np.float32 if precision == "float32" else np.float16)
    _close(out, model(x).numpy(), precision)


@pytest.fixture(scope="module")
def gelu_programs(folder):
    inputs = keras.Input((97,), batch_size=1, name="x")
    model = keras.Model(inputs, keras.layers.Activation(gelu)(inputs))
    return {p: convert(model, (1, 97), folder, "gelu", p) for p in PRECISIONS}


@pytest.mark.parametrize("precision", ["float32", "float16"])
@pytest.mark.parametrize("mode,formula", [
    ("EXACT", gelu),
    ("TANH_APPROXIMATION", lambda x: tf.nn.gelu(x, approximate=True)),
    ("SIGMOID_APPROXIMATION", lambda x: x * tf.sigmoid(1.702 * x)),
])
def test_gelu_modes_follow_their_formulas(gelu_programs, folder, mode, formula, precision):
    path = _edited(gelu_programs[precision], folder, f"gelu_{mode}_{precision}",
                   _set_gelu_mode(mode))
    x = np.linspace(-6, 6, 97, dtype=np.float32)[None]
    if precision == "float16":  # float16 input, the formula rounded to float16 once
        x = x.astype(np.float16)
        out = _run(path, x)
        expected = formula(x.astype(np.float32)).numpy().astype(np.float16)
        assert out.dtype == np.float16
        # one float16 step (2**-10 relative) apart at most, or float32 noise near zero
        np.testing.assert_allclose(out.astype(np.float32), expected.astype(np.float32),
                                   rtol=2 ** -10, atol=1e-6)
    else:
        np.testing.assert_allclose(_run(path, x), formula(x).numpy(), rtol=1e-6, atol=1e-6)


def _int8_grid_kernels(model, seed=2):
    """Kernels = integers in [-127, 127] times a step per output channel, each channel
    reaching 127: what symmetric per-channel int8 quantization stores exactly."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if "kernel" not in weight.name:
            continue
        axis = weight.shape.rank - (2 if "depthwise" in weight.name else 1)  # out channels
        grid = np.moveaxis(rng.integers(-127, 128, weight.shape), axis, 0).copy()
        grid.reshape(len(grid), -1)[:, 0] = 127
        steps = rng.uniform(0.001, 0.01, len(grid)).reshape((-1,) + (1,) * (grid.ndim - 1))
        weight.assign(np.moveaxis(grid * steps, 0, axis))
    return model


@pytest.mark.parametrize("ios,op", [("16", "constexpr_affine_dequantize"),
                                    ("18", "constexpr_blockwise_shift_scale")])
def test_8bit_weights_dequantize_per_output_channel(folder, ios, op):
    """Weights that are int8 multiples of a per-channel step survive quantization exactly,
    so the 8-bit program must give the float model's outputs to float32 rounding."""
    import coremltools.optimize.coreml as cto
    import coremltools as ct
    model = _int8_grid_kernels(_randomize(conv_model()))
    path = convert(model, (1, 15, 16, 3), folder, "conv8", "float32", ios)
    config = cto.OptimizationConfig(global_config=cto.OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", weight_threshold=0))
    quantized = cto.linear_quantize_weights(ct.models.MLModel(path, skip_model_load=True),
                                            config)
    quantized.save(path)
    assert op in _ops(path)
    x = np.random.default_rng(1).normal(0, 1, (1, 15, 16, 3)).astype(np.float32)
    _close(_run(path, x), model(x).numpy(), "float32")


# ------------------------------------------------------------------ the micro tiny-MOAT export

@pytest.fixture(scope="module")
def micro():
    model = loaded_micro(batch_size=1)
    job = ExportJob(model=model, variant="tiny-moat-0", input_size=(64, 64), labels=LABELS,
                    normalization="imagenet", calibration=sample_photo_crops(64, 8).pixels)
    pixels = sample_photo_crops(64, 8, seed=1).pixels
    logits = np.concatenate([model(job.normalized(pixels[i:i + 1])).numpy()
                             for i in range(len(pixels))])
    return job, pixels, logits


@pytest.fixture(scope="module")
def micro_packages(micro, folder):
    job, _, _ = micro
    paths = {}
    for precision in ("float32", "float16", "weights8", "int8"):
        paths[precision] = str(folder / TARGET.file_name(job, precision))
        ios = "17" if precision == "int8" else "16"      # W8A8 ops are iOS 17 ops
        notes = TARGET.export(dataclasses.replace(job, minimum_ios=ios), precision,
                              paths[precision])
        assert notes["numerics"] == numerics_source()
    return paths


def _figures(micro, path):
    _, pixels, logits = micro
    return validate.compare(logits, TARGET.predict(path, pixels))


@pytest.mark.parametrize("precision,sqnr", [("float32", 60.0), ("float16", 35.0),
                                            ("weights8", 15.0), ("int8", 15.0)])
def test_micro_export_agrees_with_keras(micro, micro_packages, precision, sqnr):
    figures = _figures(micro, micro_packages[precision])
    if precision == "int8":
        # The micro model's two top logits are within 0.01 on half of these 8 images, an
        # int8 step of its activations: its top-1 agreement says little (tiny-moat-0 in
        # bench/coreml.py is held to the int8 defaults); the SQNR threshold holds.
        assert figures["sqnr_db"] >= sqnr and figures["top1_agreement"] >= 0.75, figures
        assert "sqnr_db" in thresholds.defaults("int8", "float")
        assert sqnr == thresholds.defaults("int8", "float")["sqnr_db"]
        return
    assert figures["sqnr_db"] >= sqnr and figures["top1_agreement"] == 1.0, figures
    assert thresholds.failures(figures, thresholds.defaults(precision, "float")) == []


def test_classifier_outputs_name_the_keras_top_class(micro, micro_packages):
    job, pixels, logits = micro
    executor = coreml_executor.load(micro_packages["float32"])
    out = executor.run({"image": executor.image_tensor(pixels[0])})
    assert out["classLabel"] == LABELS[int(np.argmax(logits[0]))]
    assert list(out["classLabel_probs"]) == LABELS
    softmax = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(list(out["classLabel_probs"].values()), softmax, atol=1e-6)


def _wrong_image_scale(spec):
    scaled = next(op for op in _main_ops(spec) if op.outputs[0].name == "image__scaled__")
    _const_of(spec, scaled, "y").attributes["val"].immediateValue.tensor.floats.values[0] = \
        1 / 255


def _swapped_transpose(spec):
    """Height and width swapped in the first NHWC -> NCHW transpose (after the first
    attention block; the shape stays the same, the feature map is mirrored)."""
    op = next(op for op in _main_ops(spec) if op.type == "transpose"
              and list(_const_of(spec, op, "perm").attributes["val"]
                       .immediateValue.tensor.ints.values) == [0, 3, 1, 2])
    _const_of(spec, op, "perm").attributes["val"].immediateValue.tensor.ints.values[:] = \
        [0, 3, 2, 1]


@pytest.mark.parametrize("name,edit", [("image_scale", _wrong_image_scale),
                                       ("transpose", _swapped_transpose),
                                       ("gelu_mode", _set_gelu_mode("SIGMOID_APPROXIMATION"))])
def test_corrupted_package_fails_validation(micro, micro_packages, folder, name, edit):
    path = _edited(micro_packages["float32"], folder, f"broken_{name}", edit)
    figures = _figures(micro, path)
    assert figures["sqnr_db"] < 35.0, figures
    assert thresholds.failures(figures, thresholds.defaults("float32", "float"))


def _scaled_quantize(factor):
    """The classifier input's quantize op given its own scale, `factor` times the one its
    dequantize uses (they share one const): a quantize/dequantize scale mismatch."""
    def edit(spec):
        from coremltools.proto import MIL_pb2
        op = [op for op in _main_ops(spec) if op.type == "quantize"][-1]
        value = MIL_pb2.Value()
        value.CopyFrom(_const_of(spec, op, "scale").attributes["val"])
        tensor = value.immediateValue.tensor
        scale = np.frombuffer(tensor.bytes.values, np.float16) * np.float16(factor)
        tensor.bytes.values = scale.astype(np.float16).tobytes()
        argument = op.inputs["scale"].arguments[0]
        argument.ClearField("name")
        argument.value.CopyFrom(value)
    return edit


def test_w8a8_program_quantizes_conv_linear_and_matmul_inputs(micro_packages):
    executor = coreml_executor.load(micro_packages["int8"])
    ops = {op.outputs[0].name: op for op in executor.block.operations}
    consumers = [op for op in executor.block.operations
                 if op.type in ("conv", "linear", "matmul")]
    for op in consumers:
        for key in ("x", "y") if op.type == "matmul" else ("x",):
            feeding = ops[op.inputs[key].arguments[0].name]
            assert feeding.type == "dequantize", (op.outputs[0].name, key, feeding.type)
            assert ops[feeding.inputs["input"].arguments[0].name].type == "quantize"


@pytest.mark.parametrize("factor", [2.0, 0.25])
def test_corrupted_activation_scale_fails_validation(micro, micro_packages, folder, factor):
    path = _edited(micro_packages["int8"], folder, f"broken_scale_{factor}",
                   _scaled_quantize(factor))
    figures = _figures(micro, path)
    assert thresholds.failures(figures, thresholds.defaults("int8", "float")), figures


def test_bgr_image_input_takes_channels_in_bgr_order(micro, micro_packages, folder):
    from coremltools.proto import FeatureTypes_pb2

    def bgr(spec):
        spec.description.input[0].type.imageType.colorSpace = \
            FeatureTypes_pb2.ImageFeatureType.ColorSpace.Value("BGR")

    _, pixels, _ = micro
    path = _edited(micro_packages["float32"], folder, "bgr", bgr)
    np.testing.assert_array_equal(TARGET.predict(path, pixels[:2]),
                                  TARGET.predict(micro_packages["float32"], pixels[:2, ..., ::-1]))


@pytest.mark.parametrize("field,value,message", [
    ("type", "softplus", "MIL op 'softplus'"),
    ("mode", "CUBIC", "mode 'CUBIC' is not implemented"),
])
def test_unknown_op_or_attribute_is_a_one_line_error(micro, micro_packages, folder, field,
                                                    value, message):
    def edit(spec):
        op = next(op for op in _main_ops(spec) if op.type == "gelu")
        if field == "type":
            op.type = value
        else:
            _set_gelu_mode(value)(spec)

    _, pixels, _ = micro
    path = _edited(micro_packages["float32"], folder, f"unknown_{field}", edit)
    with pytest.raises(UnsupportedOp, match=message) as raised:
        TARGET.predict(path, pixels[:1])
    assert isinstance(raised.value, ExportError) and "\n" not in str(raised.value)


def test_quantize_dequantize_and_gather_follow_the_op_reference(folder):
    """iOS 17 quantize: clip(round(x / scale) + zero_point), ties to even; dequantize:
    scale * (q - zero_point), per tensor or along an axis; gather: take along an axis."""
    import coremltools as ct
    from coremltools.converters.mil import Builder as mb
    scale = np.array([0.5, 0.25, 2.0], np.float32)
    zero = np.array([0, 10, 250], np.uint8)
    index = np.array([[2, 0], [1, 1]], np.int32)

    @mb.program(input_specs=[mb.TensorSpec(shape=(2, 3, 4))], opset_version=ct.target.iOS17)
    def program(x):
        per_tensor = mb.quantize(input=x, scale=np.float32(0.5), zero_point=np.int8(3),
                                 output_dtype="int8", name="q_tensor")
        per_channel = mb.quantize(input=x, scale=scale, zero_point=zero, axis=1,
                                  output_dtype="uint8", name="q_channel")
        back = mb.dequantize(input=per_channel, scale=scale, zero_point=zero, axis=1,
                             name="dq_channel")
        taken = mb.gather(x=back, indices=index, axis=2, name="gathered")
        return per_tensor, mb.dequantize(input=per_tensor, scale=np.float32(0.5),
                                         zero_point=np.int8(3), name="dq_tensor"), taken

    path = str(folder / "quantize.mlpackage")
    ct.convert(program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS17,
               skip_model_load=True, pass_pipeline=ct.PassPipeline.EMPTY).save(path)
    x = np.array([-70.0, -1.25, -0.75, -0.25, 0.25, 0.75, 1.25, 70.0] * 3,
                 np.float32).reshape(2, 3, 4)
    executor = coreml_executor.load(path)
    out = dict(zip(("q", "dq", "gathered"), executor.run({"x": x}).values()))
    expected_q = np.clip(np.rint(x / 0.5) + 3, -128, 127)   # rint: ties to even
    np.testing.assert_array_equal(out["q"], expected_q)
    assert list(out["q"][0, 0]) == [-128, 1, 1, 3]          # -2.5 -> -2, -1.5 -> -2, -0.5 -> 0
    np.testing.assert_array_equal(out["dq"], (expected_q - 3) * 0.5)
    s, z = scale.reshape(1, 3, 1), zero.reshape(1, 3, 1).astype(np.float32)
    channel = (np.clip(np.rint(x / s) + z, 0, 255) - z) * s
    np.testing.assert_array_equal(out["gathered"], np.take(channel, index, axis=2))
