"""tinymoat-export: INT8 TFLite, ONNX and Core ML artifacts, validated against the float model.

With only --target it runs on built-in defaults (tiny-moat-0 at 224, random
weights, calibration crops of a sample photo) and says so. --out is written as
a whole: a folder holding a previous export is replaced by the new one only
when everything succeeded; a folder holding other files is refused.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings

from . import progress
from .target import ExportError

EXIT_USAGE, EXIT_FAILED_THRESHOLD = 2, 1
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM
MAX_CLASSES = 100_000


def parser() -> argparse.ArgumentParser:
    from .targets import TARGETS
    from tinymoat.config import VARIANTS
    p = argparse.ArgumentParser(prog="tinymoat-export", description=__doc__.splitlines()[0])
    p.add_argument("--target", required=True, help=f"one of {', '.join(TARGETS)}, all")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--int8", dest="precision", action="store_const", const="int8",
                           help="full-integer TFLite, QDQ INT8 ONNX, 8-bit-weight Core ML")
    precision.add_argument("--fp16", dest="precision", action="store_const", const="float16")
    precision.add_argument("--dynamic", dest="precision", action="store_const", const="dynamic",
                           help="TFLite dynamic-range (int8 weights, float activations)")
    p.set_defaults(precision="float32")
    p.add_argument("--mixed", action="store_true",
                   help="with --int8: compute GELU (exact), softmax and LayerNorm's 1/sqrt "
                   "in float inside the int8 graph (closer to the float model and as fast with "
                   "XNNPACK; not for integer-only accelerators) and accept other ops left in "
                   "float instead of failing")
    p.add_argument("--gelu", choices=("sigmoid", "tanh"), default=None,
                   help="GELU of the full-integer TFLite graph: sigmoid (default, "
                   "x*sigmoid(1.702x), fastest) or tanh (GELU's tanh form, closer to the float "
                   "model, two more int8 ops per GELU: tiny-moat-0 ~25%% slower on a CPU)")
    p.add_argument("--variant", choices=list(VARIANTS), default=None)
    p.add_argument("--weights", help="deeplab2 checkpoint, tinymoat saved model, or a "
                   "tinymoat-train run folder (its QAT model is used for --int8)")
    p.add_argument("--input-size", type=int, default=None)
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--labels", help="text file, one class name per line")
    p.add_argument("--calib-data", help="image folder (class-per-subfolder) for calibration "
                   "(default: a run folder's training images, else crops of a sample photo)")
    p.add_argument("--calib-limit", type=int, default=100)
    p.add_argument("--calibration", choices=("minmax", "percentile", "mse", "entropy"),
                   default="minmax", help="calibration statistic for INT8 (default minmax; "
                   "ONNX Runtime has no mse)")
    p.add_argument("--val-data", help="image folder for validation (default: a run folder's "
                   "validation images, else the calibration images)")
    p.add_argument("--val-limit", type=int, default=64)
    p.add_argument("--input-type", choices=("uint8", "int8", "float32"), default=None,
                   help="INT8 TFLite input: uint8 raw pixels (default after post-training "
                   "calibration), int8 (default for a QAT model) or float32 normalised values")
    p.add_argument("--output-type", choices=("uint8", "int8", "float32"), default="float32")
    p.add_argument("--onnx-activations", choices=("uint8", "int8"), default="uint8",
                   help="ONNX INT8 activation type: uint8 (default; ONNX Runtime's fast "
                   "U8S8 kernels on x86) or int8 (S8S8, for ARM builds; time both with "
                   "tinymoat-bench on the target device)")
    p.add_argument("--ios", default="16", help="Core ML minimum iOS deployment target")
    p.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                   help="override a validation threshold, e.g. top1_agreement=0.95 (at least) "
                   "or max_abs_error=0.5 (at most); names and directions in docs/formats.md")
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
    overrides = thresholds.parse(args.threshold)
    for flag, value, least, most in (("--input-size", args.input_size, 1, None),
                                     ("--num-classes", args.num_classes, 2, MAX_CLASSES),
                                     ("--calib-limit", args.calib_limit, 1, None),
                                     ("--val-limit", args.val_limit, 1, None)):
        if value is not None and (value < least or (most is not None and value > most)):
            bound = f"at least {least}" + ("" if most is None else f" and at most {most}")
            raise ExportError(f"{flag} must be {bound}, got {value}")
    if any(target.name == "coreml" for target, _ in plan):
        coreml.check_ios(args.ios)
    return plan, overrides


def prepare(args, plan):
    """Loads and checks everything the export needs; writes nothing."""
    import numpy as np

    from tinymoat.preprocess import NORMALIZATION

    from . import sources
    from .progress import quiet, step
    from .target import ExportJob

    with step("load model"):
        source = sources.load_model_source(args.weights, args.variant, args.input_size,
                                           args.num_classes)
    classes = int(source.model.output.shape[-1])
    labels, labels_source = sources.read_labels(args.labels, source.labels, classes)
    calib, val = sources.pick_images(args.calib_data, args.val_data, source.run,
                                     source.input_size, args.calib_limit, args.val_limit)
    val_labels = sources.label_indices(val.loaded, labels) if val.loaded.classes else None
    normalization = source.model.moat_config.normalization
    qat_model = source.qat_model if args.precision == "int8" else None
    if args.gelu and qat_model is not None:
        raise ExportError(f"--gelu: {args.weights} has a QAT model, which keeps the GELU form "
                          "it was trained with (tinymoat-train --qat-gelu picks it)")
    input_type = args.input_type or ("int8" if qat_model is not None else "uint8")
    assert normalization in NORMALIZATION
    job = ExportJob(model=source.model, variant=source.variant, input_size=source.input_size,
                    labels=labels, normalization=normalization, calibration=calib.loaded.pixels,
                    qat_model=qat_model, input_type=input_type, output_type=args.output_type,
                    calibration_statistic=args.calibration, int8_gelu=args.gelu or "sigmoid",
                    onnx_activations=args.onnx_activations,
                    minimum_ios=args.ios,
                    random_weights=source.random)
    with quiet():  # checks may import a converter, which greets stderr
        for target, precision in plan:
            target.check(job, precision)
    context = {"weights": source.weights, "labels_source": labels_source,
               "calibration_source": calib.describe(), "validation_source": val.describe()}
    return job, np.asarray(val.loaded.pixels), val_labels, context


def summary_table(results, out_dir) -> str:
    rows = [("artifact", "size", "precision", "agreement", "path")]
    for r in results:
        agreement = ("not run" if not r.numerics_run else
                     f"{r.validation['top1_agreement']:.1%} top-1, {r.validation['sqnr_db']:.1f} dB"
                     + ("" if r.passed else " FAIL") + ("" if r.thresholds else " (unchecked)"))
        rows.append((r.target, f"{r.size_bytes / 1e6:.2f} MB", r.precision, agreement,
                     os.path.join(out_dir, r.file)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from tinymoat.checkpoint import CheckpointError
    from tinymoat.data import DataError
    from tinymoat.saving import SavedModelError

    from .pipeline import staged, write_export
    warnings.filterwarnings("ignore")
    handles_signals = threading.current_thread() is threading.main_thread()
    progress.reset_stop()
    previous = (signal.signal(signal.SIGTERM, progress.request_stop) if handles_signals
                else None)
    try:
        plan, overrides = check_args(args)
        with staged(args.out) as work:
            job, val_pixels, val_labels, context = prepare(args, plan)
            print(f"tinymoat-export: {job.variant} at {job.input_size[0]}x{job.input_size[1]}, "
                  f"{job.num_classes} classes", file=sys.stderr)
            for key in ("weights", "calibration_source", "validation_source", "labels_source"):
                print(f"  {key.replace('_source', '')}: {context[key]}", file=sys.stderr)
            results = write_export(job, plan, work.new, val_pixels, val_labels, overrides,
                                   context)
            replaced = os.path.isdir(args.out)
            progress.check_stop()
            work.publish()
    except (ExportError, CheckpointError, DataError, SavedModelError) as exc:
        print(f"tinymoat-export: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tinymoat-export: interrupted; --out left as it was", file=sys.stderr)
        return EXIT_INTERRUPTED
    except progress.Terminated:
        print("tinymoat-export: terminated; --out left as it was", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        if handles_signals:
            signal.signal(signal.SIGTERM, previous)
    print(f"wrote manifest.json, report.json, report.md, labels.txt to {args.out}"
          + (" (replacing the previous export there)" if replaced else ""), file=sys.stderr)
    print(summary_table(results, args.out))
    failed = [r for r in results if not r.passed]
    if failed:
        print(f"tinymoat-export: {len(failed)} artifact(s) below the validation thresholds "
              "(see report.md)", file=sys.stderr)
        return EXIT_FAILED_THRESHOLD
    return 0


if __name__ == "__main__":
    sys.exit(main())
