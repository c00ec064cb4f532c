"""Core ML packages of tiny-moat-0 at 224: size and agreement with the Keras model.

    python bench/coreml.py [--held-out 24] [--calibration 8] [--no-record]

With the tiny_moat0_224 checkpoint fixture's weights (../shared beside the
repository), exports the Core ML float32, float16, weights8 (int8 weights,
float16 compute; tinymoat-export --dynamic) and int8 (W8A8: int8 weights and
int8 activations into conv/linear/matmul, iOS 17; --int8) packages and the
TFLite full-integer INT8 from the same calibration photo crops, then runs
every package on held-out photo crops. Core ML packages run in the NumPy
reference executor (tinymoat.export.coreml.executor: the Core ML runtime
needs macOS), the TFLite INT8 in the LiteRT interpreter.

Targets, each printed PASS/FAIL: SQNR against the Keras logits
>= 60 dB (float32), >= 35 dB (float16), >= the TFLite INT8's minus 1 dB
(weights8, int8); package bytes per parameter <= 4.2 (float32) and <= 1.25
(weights8, int8); every package's numerics run. Writes the table to
docs/benchmarks.md (section coreml) unless --no-record.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

from record import write_section
from weights import FIXTURE

PRECISIONS = (("float32", "float32"), ("float16", "float16"), ("dynamic", "weights8"),
              ("int8", "int8"))
SQNR_AT_LEAST = {"float32": 60.0, "float16": 35.0}
BYTES_PER_PARAMETER_AT_MOST = {"float32": 4.2, "weights8": 1.25, "int8": 1.25}
TFLITE_MARGIN_DB = 1.0


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def fixture_job(calibration_count, held_out):
    """(parameters, ExportJob, held-out crops, Keras logits on them) of tiny-moat-0 224 with
    the checkpoint fixture's weights."""
    import tinymoat
    from tinymoat import data
    from tinymoat.export.target import ExportJob
    model = tinymoat.build_model("tiny-moat-0", 224, batch_size=1)
    tinymoat.load_deeplab2_checkpoint(model, FIXTURE)
    calibration = data.sample_photo_crops(224, count=calibration_count).pixels
    held = data.sample_photo_crops(224, count=held_out, seed=1).pixels
    job = ExportJob(model=model, variant="tiny-moat-0", input_size=(224, 224),
                    labels=[f"class_{i}" for i in range(model.output.shape[-1])],
                    normalization=model.moat_config.normalization, calibration=calibration)
    reference = np.concatenate([model(job.normalized(held[i:i + 1])).numpy()
                                for i in range(len(held))])
    return model.count_params(), job, held, reference


def export_all(job, held, reference):
    """(TFLite INT8 figures, its bytes, [(precision, min iOS, detail, bytes, figures,
    export seconds)] per Core ML package)."""
    import dataclasses

    from tinymoat.export import validate
    from tinymoat.export.coreml import CoreMLTarget, default_ios
    from tinymoat.export.tflite import TFLiteTarget
    from tinymoat.fileio import size_bytes
    coreml = CoreMLTarget()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinymoat-bench-coreml-") as folder:
        tflite_path = os.path.join(folder, "int8.tflite")
        TFLiteTarget().export(job, "int8", tflite_path)
        tflite = validate.compare(reference, TFLiteTarget().predict(tflite_path, held))
        tflite_size = size_bytes(tflite_path)
        for requested, precision in PRECISIONS:
            path = os.path.join(folder, f"{precision}.mlpackage")
            ios = default_ios(requested)
            start = time.perf_counter()
            coreml.export(dataclasses.replace(job, minimum_ios=ios), requested, path)
            seconds = time.perf_counter() - start
            figures = validate.compare(reference, coreml.predict(path, held))
            rows.append((precision, ios, coreml.precision_detail(precision), size_bytes(path),
                         figures, seconds))
            print(f"{precision}: {size_bytes(path) / 1e6:.2f} MB, "
                  f"{figures['sqnr_db']:.1f} dB ({seconds:.0f} s export)", file=sys.stderr)
    return tflite, tflite_size, rows


def table(args, parameters, tflite, tflite_size, rows):
    """(lines of the table with its targets, [met?])."""
    lines = [f"tiny-moat-0 at 224, tiny_moat0_224 checkpoint fixture's weights "
             f"({parameters:,} parameters); {args.calibration} calibration and "
             f"{args.held_out} held-out photo crops (tinymoat.data.sample_photo_crops, seeds 0 "
             f"and 1). Core ML numerics: the reference executor (NumPy; the Core ML runtime "
             f"needs macOS). TFLite INT8 (full integer, same calibration) in LiteRT: "
             f"{tflite_size / 1e6:.2f} MB, {tflite_size / parameters:.3f} bytes/parameter, "
             f"SQNR {tflite['sqnr_db']:.2f} dB, top-1 agreement "
             f"{tflite['top1_agreement']:.1%}.", "",
             "| Core ML precision | min iOS | weights | activations | package MB | "
             "bytes/param | SQNR dB | top-1 agreement | SQNR target | size target |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    verdicts = []
    for precision, ios, detail, size, figures, _ in rows:
        floor = SQNR_AT_LEAST.get(precision, tflite["sqnr_db"] - TFLITE_MARGIN_DB)
        sqnr_ok = figures["sqnr_db"] >= floor
        ceiling = BYTES_PER_PARAMETER_AT_MOST.get(precision)
        per_parameter = size / parameters
        size_text = ("-" if ceiling is None else
                     f"<= {ceiling} {_verdict(per_parameter <= ceiling)}")
        verdicts += [sqnr_ok] + ([] if ceiling is None else [per_parameter <= ceiling])
        lines.append(f"| {precision} | {ios} | {detail['weights']} | {detail['activations']} | "
                     f"{size / 1e6:.2f} | {per_parameter:.3f} | {figures['sqnr_db']:.2f} | "
                     f"{figures['top1_agreement']:.1%} | >= {floor:.2f} {_verdict(sqnr_ok)} | "
                     f"{size_text} |")
    lines += ["", f"Every package's numerics run (reference executor): "
              f"{_verdict(len(rows) == len(PRECISIONS))}. Targets met: "
              f"{sum(verdicts)}/{len(verdicts)}."]
    return lines, verdicts


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", type=int, default=24)
    parser.add_argument("--calibration", type=int, default=8)
    parser.add_argument("--no-record", dest="record", action="store_false")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not os.path.isdir(FIXTURE):
        print(f"bench/coreml.py: the checkpoint fixture {FIXTURE} is not there", file=sys.stderr)
        return 2
    import warnings
    warnings.filterwarnings("ignore")
    from tinymoat.export import progress
    progress.ENABLED = False
    parameters, job, held, reference = fixture_job(args.calibration, args.held_out)
    tflite, tflite_size, rows = export_all(job, held, reference)
    lines, verdicts = table(args, parameters, tflite, tflite_size, rows)
    body = "\n".join(lines)
    print(body)
    if args.record:
        command = "python bench/coreml.py" + "".join(
            f" --{k.replace('_', '-')} {v}" for k, v in (("held_out", args.held_out),
                                                         ("calibration", args.calibration)))
        path = write_section("coreml", "Core ML packages: size and agreement",
                             command, body)
        print(f"wrote {path}", file=sys.stderr)
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
