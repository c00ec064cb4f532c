"""Accuracy benchmark: float vs PTQ-INT8 vs QAT-INT8 tiny-moat-0 on a real (tiny) dataset.

No ImageNet data or weights are reachable offline, so this fine-tunes from
random initialisation on scikit-learn's bundled handwritten digits (1797
8x8 grayscale images, 10 classes), upscaled to RGB PNGs, split 80/20 per
class with a fixed seed. It runs the real tools end to end:

    tinymoat-train --qat   float stage, then quantization-aware stage
    tinymoat-train --resume --restart-qat --qat-gelu tanh   (a copy of the run:
                           the same float model, QAT with GELU's tanh form)
    tinymoat-eval --ptq --qat   float, PTQ-INT8 and both QAT-INT8 models in LiteRT

and prints the held-out top-1/top-5 with the target: QAT-INT8 within 0.3
points of float and at least as good as PTQ-INT8. Then, on the held-out
images, the agreement (logit SQNR) with the float model of the exporter's
INT8 graphs (`tinymoat-export --int8`, `--int8 --mixed`) and of the plain
TFLite conversion: trained weights, unlike bench/int8_speed.py's random
ones, show what GELU's sigmoid form costs. About 6-9 minutes on 2 CPU cores
with the defaults. Needs scikit-learn (the `bench` extra).

    python bench/accuracy.py [--epochs 20] [--qat-epochs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

# Run from a source checkout without installing: the repository root holds tinymoat/.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TARGET_POINTS = 0.3
CALIBRATION_IMAGES = 200  # PTQ calibration (tinymoat-eval --calib-limit and the export graphs)


def write_digits(root: str, size: int, seed: int) -> dict:
    """PNG folders root/train/<digit>/ and root/val/<digit>/; returns the counts."""
    from PIL import Image
    from sklearn.datasets import load_digits
    digits = load_digits()
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "val": 0}
    for label in range(10):
        members = rng.permutation(np.flatnonzero(digits.target == label))
        held_out = set(members[: len(members) // 5].tolist())
        for index in members:
            split = "val" if index in held_out else "train"
            folder = os.path.join(root, split, str(label))
            os.makedirs(folder, exist_ok=True)
            pixels = (digits.images[index] * (255 / 16)).round().astype(np.uint8)
            image = Image.fromarray(pixels).resize((size, size), Image.BILINEAR).convert("RGB")
            image.save(os.path.join(folder, f"{index:04d}.png"))
            counts[split] += 1
    return counts


def train(args, data: str, run: str, *extra: str) -> float:
    from tinymoat._keras import keras
    from tinymoat.quantization.training import cli
    keras.backend.clear_session()
    start = time.time()
    argv = ["--variant", "tiny-moat-0", "--input-size", str(args.input_size),
            "--data", os.path.join(data, "train"), "--val-data", os.path.join(data, "val"),
            "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--lr", str(args.lr), "--ema-decay", str(args.ema_decay), "--no-flip",
            "--min-crop-area", "0.5", "--seed", str(args.seed), "--out", run]
    if args.qat_epochs:
        argv += ["--qat", "--qat-epochs", str(args.qat_epochs)]
    if cli.main(argv + list(extra)) != 0:
        sys.exit("bench/accuracy.py: training failed")
    return time.time() - start


def evaluate(data: str, run: str, out: str, ptq: bool, qat: bool) -> dict:
    """tinymoat-eval's accuracy.json results by row name."""
    from tinymoat._keras import keras
    from tinymoat.quantization import eval_cli
    keras.backend.clear_session()
    argv = ["--data", os.path.join(data, "val"), "--float", run,
            "--calib-limit", str(CALIBRATION_IMAGES), "--out", out]
    argv += ["--ptq"] if ptq else []
    argv += ["--qat"] if qat else []
    if eval_cli.main(argv) != 0:
        sys.exit("bench/accuracy.py: evaluation failed")
    with open(os.path.join(out, "accuracy.json")) as f:
        return {r["name"]: r for r in json.load(f)["results"]}


def export_agreement(data: str, run: str,
                     calibration_limit: int = CALIBRATION_IMAGES) -> dict:
    """{graph: (SQNR dB, top-1 agreement)} of the exporter's INT8 graphs and the plain
    conversion against the trained float model, on the held-out images."""
    from int8_speed import agreement, export_tflite, plain_tflite
    from tinymoat import data as imagedata, saving
    from tinymoat.export.target import ExportJob
    model, meta = saving.load(os.path.join(run, "float"))
    size = tuple(meta["input_size"])
    calibration = imagedata.load_folder(os.path.join(data, "train"), size,
                                        limit=calibration_limit, seed=0).pixels
    held_out = imagedata.load_folder(os.path.join(data, "val"), size).pixels
    job = ExportJob(model=model, variant="tiny-moat-0", input_size=size,
                    labels=[str(i) for i in range(model.output.shape[-1])],
                    normalization=model.moat_config.normalization, calibration=calibration,
                    input_type="int8", output_type="int8")
    rows = [(f"tinymoat-export --int8{flag}", "tflite",
             export_tflite(dataclasses.replace(job, int8_gelu=gelu), precision), 0)
            for flag, precision, gelu in (("", "int8", "sigmoid"), (" --gelu tanh", "int8", "tanh"),
                                          (" --mixed", "int8-mixed", "sigmoid"))]
    rows.append(("plain TFLite conversion (PTQ)", "tflite",
                 plain_tflite(model, job.normalized(calibration)), 0))
    return agreement(model, job.normalized(held_out), rows)


QAT_TANH = "qat-int8 (--qat-gelu tanh)"


def table(rows: dict) -> str:
    lines = [f"{'model':<28}{'top-1':>9}{'top-5':>9}{'vs float':>11}"]
    for name in ("float", "ptq-int8", "qat-int8", QAT_TANH):
        row = rows.get(name)
        if row is None:
            lines.append(f"{name:<28}{'n/a':>9}")
            continue
        drop = row.get("top1_drop_points")
        delta = "" if drop is None else f"{0.0 - drop:+.2f} pt"
        lines.append(f"{name:<28}{row['top1']:>9.2%}{row['top5']:>9.2%}{delta:>11}")
    return "\n".join(lines)


def verdict(rows: dict) -> str:
    if "qat-int8" not in rows:
        return "target not checked: no QAT model"
    qat, ptq = rows["qat-int8"], rows.get("ptq-int8")
    drop = qat["top1_drop_points"]
    lines = [f"QAT-INT8 within {TARGET_POINTS} pt of float: "
             f"{'yes' if drop <= TARGET_POINTS else 'NO'} ({0.0 - drop:+.2f} pt)"]
    if ptq is not None:
        lines.append(f"QAT-INT8 at least as good as PTQ-INT8: "
                     f"{'yes' if qat['top1'] >= ptq['top1'] else 'NO'} "
                     f"({100 * (qat['top1'] - ptq['top1']):+.2f} pt)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--qat-epochs", type=int, default=3, help="0: no QAT stage")
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep", help="write the data, run and reports here (default: a temp dir)")
    args = p.parse_args(argv)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or tmp
        data, run, out = (os.path.join(root, d) for d in ("digits", "run", "eval"))
        counts = write_digits(data, args.input_size, args.seed)
        train_s = train(args, data, run)
        if args.qat_epochs:  # the same float model, QAT again with the tanh form
            shutil.copytree(run, run + "-tanh")
            train_s += train(args, data, run + "-tanh", "--resume", "--restart-qat",
                             "--qat-gelu", "tanh")
        start_eval = time.time()
        rows = evaluate(data, run, out, ptq=True, qat=bool(args.qat_epochs))
        if args.qat_epochs:
            rows[QAT_TANH] = evaluate(data, run + "-tanh", out + "-tanh", ptq=False,
                                      qat=True)["qat-int8"]
        eval_s = time.time() - start_eval
        agreed = export_agreement(data, run)
    print(f"\ntiny-moat-0 at {args.input_size}x{args.input_size}, random init, sklearn digits: "
          f"{counts['train']} train / {counts['val']} held-out images, {args.epochs} float + "
          f"{args.qat_epochs} QAT epochs (each QAT form from the same float model)")
    print(table(rows))
    print(verdict(rows))
    print(f"\nAgreement with the float model on the {counts['val']} held-out images "
          f"(INT8 graphs calibrated on {CALIBRATION_IMAGES} training images, minmax)")
    print(f"{'graph':<34}{'SQNR dB':>9}{'top-1 agr.':>12}")
    for name, (sqnr, top1) in agreed.items():
        print(f"{name:<34}{sqnr:>9.2f}{top1:>12.3f}")
    print(f"time: train {train_s:.0f} s, evaluate {eval_s:.0f} s, total "
          f"{time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
