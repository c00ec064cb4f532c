"""The options of an export: one parser for `tinymoat-export` and `tinymoat.export.export()`.

The command line and the Python call take the same options and check them the
same way (check_args) before anything is loaded or written; a bad option is an
ExportError with a one-line message in both.
"""

from __future__ import annotations

import argparse

from tinymoat.quantization.forms import CALIBRATIONS, INT8_GELU_FORMS

from . import timing
from .target import ExportError

MAX_CLASSES = 100_000
DESCRIPTION = "INT8 TFLite, ONNX and Core ML artifacts, validated against the float model."


class Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are ExportErrors when it parses for Python callers."""

    raise_errors = False

    def error(self, message):
        if self.raise_errors:
            raise ExportError(message)
        super().error(message)


def parser() -> argparse.ArgumentParser:
    from .targets import TARGETS
    from tinymoat.config import VARIANTS
    p = Parser(prog="tinymoat-export", description=f"tinymoat-export: {DESCRIPTION}")
    p.add_argument("--target", required=True,
                   help=f"one of {', '.join(TARGETS)}, several joined by commas, or all")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--int8", dest="precision", action="store_const", const="int8",
                           help="full-integer TFLite, QDQ INT8 ONNX, Core ML int8 weights and "
                           "activations (iOS 17)")
    precision.add_argument("--fp16", dest="precision", action="store_const", const="float16")
    precision.add_argument("--dynamic", dest="precision", action="store_const", const="dynamic",
                           help="TFLite dynamic-range (int8 weights, float activations), Core "
                           "ML weights8 (int8 weights, float16 compute)")
    p.set_defaults(precision="float32")
    p.add_argument("--mixed", action="store_true",
                   help="with --int8: compute GELU (exact), softmax and LayerNorm's 1/sqrt "
                   "in float inside the int8 graph (closer to the float model and as fast with "
                   "XNNPACK; not for integer-only accelerators) and accept other ops left in "
                   "float instead of failing")
    p.add_argument("--gelu", choices=INT8_GELU_FORMS, default=None,
                   help="GELU of the full-integer TFLite graph: sigmoid (default, "
                   "x*sigmoid(1.702x), fastest) or tanh (GELU's tanh form, closer to the float "
                   "model, two more int8 ops per GELU, slower on a CPU: docs/quantization.md)")
    p.add_argument("--variant", choices=list(VARIANTS), default=None)
    p.add_argument("--weights", help="deeplab2 checkpoint, tinymoat saved model, or a "
                   "tinymoat-train run folder (its QAT model is used for --int8)")
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--labels", help="text file, one class name per line")
    p.add_argument("--calib-data", help="image folder (class-per-subfolder) for calibration "
                   "(default: a run folder's training images, else crops of a sample photo)")
    p.add_argument("--calib-limit", type=int, default=100)
    p.add_argument("--calibration", choices=CALIBRATIONS,
                   default="minmax", help="calibration statistic for INT8 (default minmax; "
                   "ONNX Runtime has no mse)")
    p.add_argument("--val-data", help="image folder for validation (default: a run folder's "
                   "validation images, else the calibration images)")
    p.add_argument("--val-limit", type=int, default=64)
    p.add_argument("--input-type", choices=("uint8", "int8", "float32"), default=None,
                   help="INT8 TFLite and ONNX input: uint8 raw pixels (default after "
                   "post-training calibration; ONNX INT8 takes them unless float32), int8 "
                   "(TFLite only; default for a QAT model) or float32 normalised values")
    p.add_argument("--output-type", choices=("uint8", "int8", "float32"), default="float32")
    p.add_argument("--outputs", choices=("probabilities", "logits"), default="probabilities",
                   help="probabilities (default: a softmax at the end, so the scores that "
                   "Android's Task Library, MediaPipe and apps read are probabilities and "
                   "score thresholds mean something) or logits (the raw class scores); "
                   "TFLite and ONNX name the output after it, Core ML gives both")
    p.add_argument("--onnx-activations", choices=("uint8", "int8"), default="uint8",
                   help="ONNX INT8 activation type: uint8 (default; ONNX Runtime's fast "
                   "U8S8 kernels on x86) or int8 (S8S8, for ARM builds; time both with "
                   "tinymoat-bench on the target device)")
    p.add_argument("--ort", action="store_true",
                   help="also write each ONNX artifact in ORT format (.ort) for ONNX Runtime "
                   "Mobile: optimized for its CPU execution provider, relative bias kept "
                   "compact, validated like the .onnx")
    p.add_argument("--ios", default=None, help="Core ML minimum iOS deployment target "
                   "(default 16; 17 with --int8, the lowest its ops allow)")
    p.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                   help="override a validation threshold, e.g. top1_agreement=0.95 (at least) "
                   "or max_abs_error=0.5 (at most); names and directions in docs/formats.md")
    p.add_argument("--bench", action="store_true",
                   help="also time every artifact on this machine (LiteRT/XNNPACK, ONNX "
                   "Runtime CPU; Core ML on macOS) and add latency to the table and report; "
                   "results go to OUT/latency/ for tinymoat-report")
    p.add_argument("--bench-threads", metavar="N,M",
                   help="with --bench: thread counts (default "
                   f"{','.join(map(str, timing.Settings.threads))})")
    p.add_argument("--bench-runs", type=int,
                   help="with --bench: timed runs per artifact and thread count (default "
                   f"{timing.Settings.runs})")
    p.add_argument("--bench-runtimes", metavar="NAMES",
                   help="with --bench: also time the .tflite files in these TFLite runtimes "
                   "(litert-2.3, litert-1.4, tflite-2.14; the virtualenvs of tinymoat-bench "
                   "--runtimes, created on first use)")
    p.add_argument("--out", default="tinymoat_export",
                   help="output folder; replaced as a whole if it holds a previous export, "
                   "refused if it holds other files")
    return p


def check_args(args):
    """(plan, threshold overrides): every flag checked before anything is loaded or written."""
    from . import coreml, targets, thresholds
    if args.mixed and args.precision != "int8":
        raise ExportError("--mixed only applies to --int8")
    if args.gelu and (args.precision != "int8" or args.mixed):
        raise ExportError("--gelu only applies to --int8 without --mixed (--mixed computes "
                          "the exact GELU in float)")
    plan = targets.resolve(args.target, "int8-mixed" if args.mixed else args.precision)
    if args.ort:
        from .onnx import with_ort
        plan = with_ort(plan)
    overrides = thresholds.parse(args.threshold)
    timing.settings(args)  # checks the --bench options
    if args.outputs == "probabilities" and args.output_type != "float32":
        raise ExportError(f"--output-type {args.output_type} keeps quantized logits: use "
                          "--outputs logits with it (probabilities are float32)")
    for flag, value, least, most in (("--input-size", args.input_size, 1, None),
                                     ("--num-classes", args.num_classes, 2, MAX_CLASSES),
                                     ("--calib-limit", args.calib_limit, 1, None),
                                     ("--val-limit", args.val_limit, 1, None)):
        if value is not None and (value < least or (most is not None and value > most)):
            bound = f"at least {least}" + ("" if most is None else f" and at most {most}")
            raise ExportError(f"{flag} must be {bound}, got {value}")
    args.ios = args.ios or coreml.default_ios(args.precision)
    for target, precision in plan:
        if target.name == "coreml":
            coreml.check_precision(precision, args.ios)
    return plan, overrides
