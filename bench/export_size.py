"""Size per parameter and export time of every target, tiny-moat-0 at 224 and 256.

    python bench/export_size.py [--variant tiny-moat-0] [--sizes 224,256] [--targets tflite,onnx,coreml]

Targets: INT8 TFLite <= 1.20 bytes per parameter and float32 TFLite
<= 4.2, at both sizes. Weights are seeded random values drawn like the
deeplab2 fixtures' (weights.py): fresh Keras initialisation has many equal
constants (zero gammas and biases) that converters store once, which made
files look up to 2 % smaller than a real checkpoint's.
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
from tinymoat.fileio import size_bytes

from weights import fixture_style_weights

LIMITS = {("tflite", "int8"): 1.20, ("tflite", "float32"): 4.2}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="tiny-moat-0")
    parser.add_argument("--sizes", default="224,256")
    parser.add_argument("--targets", default="tflite,onnx,coreml")
    args = parser.parse_args(argv)
    progress.ENABLED = False
    rows, failed = [], 0
    for size in [int(s) for s in args.sizes.split(",")]:
        model = fixture_style_weights(tinymoat.build_model(args.variant, size, batch_size=1))
        params = model.count_params() - sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
        job = ExportJob(model=model, variant=args.variant, input_size=(size, size),
                        labels=[f"class_{i}" for i in range(1000)],
                        normalization=model.moat_config.normalization,
                        calibration=data.sample_photo_crops(size, count=8).pixels)
        for name in args.targets.split(","):
            target = targets.TARGETS[name]
            for precision in sorted(set(target.precisions.values())):
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, target.file_name(job, precision))
                    start = time.perf_counter()
                    target.export(job, precision, path)
                    seconds = time.perf_counter() - start
                    per_param = size_bytes(path) / params
                limit = LIMITS.get((name, precision))
                verdict = "" if limit is None else ("PASS" if per_param <= limit else "FAIL")
                failed += verdict == "FAIL"
                rows.append((f"{size}", name, precision, f"{size_bytes_mb(per_param, params):.2f}",
                             f"{per_param:.3f}", "" if limit is None else f"<= {limit}", verdict,
                             f"{seconds:.1f}"))
                print(" | ".join(rows[-1]), flush=True)
    print()
    print(f"{args.variant}: bytes per trainable parameter")
    print("| input | target | precision | MB | bytes/param | target | | export s |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 1 if failed else 0


def size_bytes_mb(per_param, params):
    return per_param * params / 1e6


if __name__ == "__main__":
    sys.exit(main())
