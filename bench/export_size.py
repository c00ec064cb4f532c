"""Size and agreement of every TFLite and ONNX artifact of tiny-moat-0.

    python bench/export_size.py [--variant tiny-moat-0] [--sizes 224] [--targets tflite,onnx]
                                [--held-out 24] [--no-record]

Each precision of each target is exported (ExportJob defaults: logits output,
8 calibration crops) and run in its runtime on held-out photo crops against the
Keras model: MB, bytes per trainable parameter, SQNR and top-1 agreement.
Weights: the tiny_moat0_224 checkpoint fixture's for tiny-moat-0 when ../shared
is beside the checkout, else seeded random values drawn like the fixtures'
(weights.py; fresh Keras initialisation has many equal constants that
converters store once, which makes files look smaller than a real
checkpoint's). Targets: INT8 TFLite <= 1.20 bytes per parameter, float32
TFLite <= 4.2. Core ML packages: bench/coreml.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

import tinymoat
from tinymoat import data
from tinymoat.export import progress, targets
from tinymoat.export.target import ExportJob
from tinymoat.export.validate import compare
from tinymoat.fileio import size_bytes

from record import write_section
from weights import FIXTURE, fixture_style_weights

LIMITS = {("tflite", "int8"): 1.20, ("tflite", "float32"): 4.2}


def model_for(variant: str, size: int):
    """(model, what its weights are)."""
    model = tinymoat.build_model(variant, size, batch_size=1)
    if variant == "tiny-moat-0" and os.path.isdir(FIXTURE):
        tinymoat.load_deeplab2_checkpoint(model, FIXTURE)
        return model, "the tiny_moat0_224 checkpoint fixture's weights"
    return fixture_style_weights(model), "seeded random weights drawn like the fixtures'"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="tiny-moat-0")
    parser.add_argument("--sizes", default="224")
    parser.add_argument("--targets", default="tflite,onnx")
    parser.add_argument("--held-out", type=int, default=24)
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args(argv)
    progress.ENABLED = False
    rows, failed, weights = [], 0, ""
    for size in [int(s) for s in args.sizes.split(",")]:
        model, weights = model_for(args.variant, size)
        params = model.count_params() - sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
        job = ExportJob(model=model, variant=args.variant, input_size=(size, size),
                        labels=[f"class_{i}" for i in range(int(model.output.shape[-1]))],
                        normalization=model.moat_config.normalization,
                        calibration=data.sample_photo_crops(size, count=8).pixels)
        pixels = data.sample_photo_crops(size, count=args.held_out, seed=1).pixels
        reference = model.predict(job.normalized(pixels), batch_size=8, verbose=0)
        for name in args.targets.split(","):
            target = targets.TARGETS[name]
            for precision in sorted(set(target.precisions.values())):
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, target.file_name(job, precision))
                    start = time.perf_counter()
                    target.export(job, precision, path)
                    seconds = time.perf_counter() - start
                    per_param = size_bytes(path) / params
                    figures = compare(reference, target.predict(path, pixels))
                limit = LIMITS.get((name, precision))
                verdict = "" if limit is None else ("PASS" if per_param <= limit else "FAIL")
                failed += verdict == "FAIL"
                rows.append((f"{size}", name, precision, f"{per_param * params / 1e6:.2f}",
                             f"{per_param:.3f}", "" if limit is None else f"<= {limit}", verdict,
                             f"{figures['sqnr_db']:.1f}", f"{figures['top1_agreement']:.1%}",
                             f"{seconds:.1f}"))
                print(" | ".join(rows[-1]), flush=True)
    lines = [f"{args.variant}, {params:,} trainable parameters, {weights}; agreement with the "
             f"Keras model on {args.held_out} held-out photo crops (logits).", "",
             "| input | target | precision | MB | bytes/param | size target | | SQNR dB "
             "| top-1 agreement | export s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    table = "\n".join(lines)
    print("\n" + table)
    if args.record:
        command = "python bench/export_size.py" + (" " + " ".join(argv or sys.argv[1:])).rstrip()
        print(write_section("export-size", "Size and agreement of the TFLite and ONNX artifacts "
                            "(export_size.py)", command, table))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
