import json
import os
import pathlib
import sys

# Test the installed package: `python -m pytest` puts the checkout first on sys.path,
# where tinymoat/ lacks the quantization/ and export/ folders that the installed
# package maps into it (pyproject.toml's package-dir).
_CHECKOUT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != _CHECKOUT]
assert "tinymoat" not in sys.modules, "tinymoat was imported before tests/conftest.py"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinymoat  # noqa: E402,F401  (selects tf_keras before TensorFlow loads)
from tinymoat._keras import keras, tf

HERE = pathlib.Path(__file__).parent
MICRO = HERE / "fixtures" / "micro_64"
SHARED = pathlib.Path(os.environ.get("TINYMOAT_SHARED", HERE.parent.parent / "shared"))
TINY_224 = SHARED / "fixtures" / "deeplab2" / "tiny_moat0_224"

MICRO_OVERRIDES = dict(stem_size=(8, 8), hidden_size=(8, 16, 32, 64), num_blocks=(1, 1, 2, 1),
                       head_size=8, shortcut_pool_size=3)


def fixture_meta(folder):
    return json.loads((folder / "meta.json").read_text())


def build_micro(**kwargs):
    """The shrunken tiny-moat-0 of the micro_64 fixture (64x64, 10 classes)."""
    args = dict(input_size=64, num_classes=10, **MICRO_OVERRIDES)
    args.update(kwargs)
    return tinymoat.build_model("tiny-moat-0", **args)


def write_checkpoint(prefix, tensors):
    """Writes a TF1 name-based checkpoint like the released ones."""
    names = sorted(tensors)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])
    return str(prefix)


def read_all(prefix):
    reader = tf.train.load_checkpoint(str(prefix))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()}


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    yield
    keras.backend.clear_session()


@pytest.fixture
def micro_golden():
    return np.load(MICRO / "golden.npz")


def loaded_micro(**kwargs):
    """The micro model with the fixture weights and BatchNorm statistics measured on
    natural-looking images (the fixture's random statistics make logits flat)."""
    from tinymoat.quantization import reset_batch_norm_statistics, synthetic_images
    model = build_micro(**kwargs)
    tinymoat.load_deeplab2_checkpoint(model, str(MICRO / "model.ckpt"))
    return reset_batch_norm_statistics(model, synthetic_images(16, 64, seed=0))


def make_color_images(root, classes, per_class=4, seed=0, size=(40, 48)):
    """Noisy PNGs in ROOT/<class>/, each class dominated by one colour channel."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 80, (*size, 3)).astype(np.uint8)
            pixels[..., (2 - c) % 3] += 150
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def delegated_partitions(model_bytes):
    """(XNNPACK partitions, op names left to TFLite's own kernels)."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=model_bytes, num_threads=1)
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()  # pylint: disable=protected-access
    delegated = {int(t) for o in ops if o["op_name"] == "DELEGATE" for t in o["outputs"]}
    left = []
    for op in ops:
        if op["op_name"] == "DELEGATE" or int(op["outputs"][0]) in delegated:
            continue
        try:
            interpreter.get_tensor(int(op["outputs"][0]))
            left.append(op["op_name"])
        except ValueError:  # internal to a delegate partition
            pass
    return sum(o["op_name"] == "DELEGATE" for o in ops), left


def int8_logits(model_bytes, images):
    """Dequantized outputs of an int8-in/int8-out TFLite model, one image at a time."""
    from ai_edge_litert.interpreter import Interpreter
    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    results = []
    for image in images:
        scale, zero = inp["quantization"]
        interpreter.set_tensor(inp["index"], np.clip(np.round(image[None] / scale + zero),
                                                     -128, 127).astype(np.int8))
        interpreter.invoke()
        scale, zero = out["quantization"]
        results.append((interpreter.get_tensor(out["index"]).astype(np.float32) - zero) * scale)
    return np.concatenate(results)
