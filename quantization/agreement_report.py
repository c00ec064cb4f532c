"""How close INT8 TFLite models are to the float model: a quick report, not a test.

    python -m tinymoat.quantization.agreement_report [--model micro|tiny-moat-0|all]

For each model and input kind it converts the float model with every PTQ
calibration (and, for reference, TFLite's calibrator on the unrewritten
graph), a QAT model with ranges from the calibration images only, and the
same QAT model after a short distillation, then runs each in LiteRT on
held-out images of the same kind and prints the agreement figures
(metrics.py), plus the op counts of the int8 graph.

Weights: the deeplab2 fixtures (seeded random values, not trained) or a fresh
random initialisation, with BN statistics reset on the calibration images
(see evaluate.reset_batch_norm_statistics), so agreement measures the
quantization of a well-conditioned but untrained network. Inputs: Gaussian
noise ("random") and 1/f-spectrum colour images ("synthetic").
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import tinymoat
from tinymoat._keras import tf

from .metrics import agreement
from .evaluate import reset_batch_norm_statistics, run_tflite, synthetic_images
from .ptq import CALIBRATIONS, ptq_convert
from .qat import distill, initialize_ranges, qat_convert, quantize_model
from .tflite.ops import float_ops, op_histogram

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(_HERE)
MODELS = {
    # name: (build kwargs, checkpoint relative to the checkout, or None)
    "micro": (dict(variant_or_config="tiny-moat-0", input_size=64, num_classes=10,
                   stem_size=(8, 8), hidden_size=(8, 16, 32, 64), num_blocks=(1, 1, 2, 1),
                   head_size=8), "tests/fixtures/micro_64/model.ckpt"),
    "tiny-moat-0": (dict(variant_or_config="tiny-moat-0", input_size=224),
                    "../shared/fixtures/deeplab2/tiny_moat0_224/model.ckpt"),
}


def _model(name):
    kwargs, checkpoint = MODELS[name]
    model = tinymoat.build_model(**kwargs)
    path = os.path.join(_ROOT, checkpoint)
    if os.path.exists(path + ".index"):
        tinymoat.load_deeplab2_checkpoint(model, path)
        return model, f"fixture {checkpoint}"
    return model, "random initialisation"


def _raw_graph_ptq(model, images) -> bytes:
    """TFLite's calibrator on the model as built (no deploy rewrite), for comparison."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([images[i:i + 1]] for i in range(len(images)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    return converter.convert()


def _inputs(kind, count, size, seed):
    if kind == "synthetic":
        return synthetic_images(count, size, seed=seed)
    return np.random.RandomState(seed).randn(count, size, size, 3).astype(np.float32)


def report(name, kinds=("synthetic", "random"), calibration_count=32, test_count=100,
           qat_steps=20, seed=0):
    model, weights = _model(name)
    size = model.input.shape[1]
    reset_batch_norm_statistics(model, synthetic_images(16, size, seed=seed))
    print(f"\n== {name} at {size}x{size}, {weights}, BN statistics reset; "
          f"{calibration_count} calibration / {test_count} test images of the same kind")
    histogram = None
    for kind in kinds:
        calibration = _inputs(kind, calibration_count, size, seed + 1)
        images = _inputs(kind, test_count, size, seed + 2)
        reference = model.predict(images, batch_size=10, verbose=0)
        print(f"   {kind} inputs: float top-1 spans {len(set(reference.argmax(1)))} classes, "
              f"logit std across images {reference.std(0).mean():.3f}")
        qat = quantize_model(model)

        def qat_init():
            initialize_ranges(qat, calibration)
            return qat_convert(qat)

        def qat_trained():
            distill(qat, model, _inputs(kind, qat_steps * 8, size, seed + 3),
                    steps=qat_steps, learning_rate=1e-5)
            return qat_convert(qat)

        candidates = [("ptq minmax, graph as built", lambda: _raw_graph_ptq(model, calibration))]
        candidates += [(f"ptq {c}", lambda c=c: ptq_convert(model, calibration, calibration=c))
                       for c in CALIBRATIONS]
        candidates += [("qat, ranges from calibration", qat_init),
                       (f"qat, +{qat_steps} distillation steps", qat_trained)]
        for label, convert in candidates:
            start = time.time()
            tflite = convert()
            seconds = time.time() - start
            if label == "ptq minmax":
                histogram = op_histogram(tflite)
            left = float_ops(tflite)
            result = agreement(reference, run_tflite(tflite, images))
            print(f"   {label:34s} {kind:9s} {result}  ({seconds:.0f} s"
                  f"{', %d float ops' % len(left) if left else ''})", flush=True)
    print(f"   int8 graph: {sum(histogram.values())} ops: "
          + ", ".join(f"{k} {v}" for k, v in histogram.items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=list(MODELS) + ["all"], default="all")
    parser.add_argument("--inputs", default="synthetic,random",
                        help="input kinds, comma-separated: synthetic, random")
    parser.add_argument("--calibration", type=int, default=32, help="calibration images")
    parser.add_argument("--images", type=int, default=100, help="test images per input kind")
    parser.add_argument("--qat-steps", type=int, default=20)
    args = parser.parse_args(argv)
    for name in (MODELS if args.model == "all" else [args.model]):
        report(name, tuple(args.inputs.split(",")), args.calibration, args.images,
               args.qat_steps)


if __name__ == "__main__":
    main()
