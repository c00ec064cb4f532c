"""tinymoat-eval: float, PTQ-INT8 and QAT-INT8 top-1/top-5 accuracy on held-out images.

The INT8 models are the graphs tinymoat-export ships (tinymoat.quantization.
int8_tflite: PTQ calibrated on --calib-data, or QAT with its learned ranges;
the same graph passes), run in the LiteRT interpreter with int8 input and
output. Writes accuracy.json, accuracy.md and the evaluated .tflite files to
--out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional

import numpy as np

from .forms import CALIBRATIONS, INT8_GELU_FORMS

PROG = "tinymoat-eval"
SCHEMA = "tinymoat.accuracy/1"


class EvalError(ValueError):
    """A user mistake; the message is one line."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    p.add_argument("--data", help="held-out images, ROOT/<class>/<image> (default: the "
                   "validation images of the run folder given as --float)")
    p.add_argument("--float", dest="float_model", metavar="SAVED_OR_RUN",
                   help="saved tinymoat model or tinymoat-train run folder (uses RUN/float)")
    p.add_argument("--ptq", action="store_true", help="also post-training INT8 of the float model")
    p.add_argument("--qat", nargs="?", const="", default=None, metavar="QAT_FOLDER",
                   help="also the QAT model as INT8 (default folder: RUN/qat of --float)")
    p.add_argument("--calib-data", help="PTQ calibration images (default: the run's training "
                   "folder when --float is a run folder, else --data)")
    p.add_argument("--calib-limit", type=int, default=200, help="calibration images (seeded, "
                   "class-balanced sample; default 200)")
    p.add_argument("--calibration", choices=CALIBRATIONS, default="minmax",
                   help="PTQ range statistic (default minmax)")
    p.add_argument("--mixed", action="store_true", help="the mixed INT8 graph (GELU, softmax "
                   "and 1/sqrt in float), as tinymoat-export --int8 --mixed ships it")
    p.add_argument("--gelu", choices=INT8_GELU_FORMS, default=None,
                   help="PTQ GELU form of the full-integer graph, as tinymoat-export --gelu "
                   "(default sigmoid)")
    p.add_argument("--limit", type=int, default=None, help="evaluate at most N images (seeded, "
                   "class-balanced sample)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="LiteRT interpreter threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    return p


def _run_folder(path: Optional[str]) -> Optional[str]:
    from tinymoat import saving
    if path and os.path.isdir(path) and saving.is_saved(os.path.join(path, "float")):
        return path
    return None


def resolve_models(args) -> Dict[str, Optional[str]]:
    """Folders of the float and QAT models the flags name."""
    from tinymoat import saving
    if not args.float_model and args.qat in (None, ""):
        raise EvalError("nothing to evaluate: give --float SAVED_OR_RUN and/or --qat QAT_FOLDER")
    if args.ptq and not args.float_model:
        raise EvalError("--ptq needs --float (the model to quantize)")
    run = _run_folder(args.float_model)
    float_folder = os.path.join(run, "float") if run else args.float_model
    if float_folder and not saving.is_saved(float_folder):
        raise EvalError(f"--float {args.float_model} is not a saved tinymoat model or run "
                        "folder (no tinymoat.json)")
    qat_folder = None
    if args.qat is not None:
        qat_folder = args.qat or (os.path.join(run, "qat") if run else None)
        if not qat_folder or not os.path.isdir(qat_folder):
            raise EvalError("--qat: no QAT model " + (f"at {qat_folder}" if qat_folder else
                            "(name its folder, or pass --float RUN_DIR of a run trained "
                            "with --qat)"))
    return {"run": run, "float": float_folder, "qat": qat_folder}


def resolve_data(args, run: Optional[str]) -> None:
    """Sets args.data to the run's validation folder when the user named none."""
    if args.data is not None:
        return
    val = _run_images(run).get("val")
    if val is None or not val["usable"]:
        why = ("--float is not a run folder" if run is None else
               "the run recorded no validation images" if val is None else val["why"])
        raise EvalError(f"give --data (held-out images): {why}")
    args.data = val["spec"]


def load_models(folders):
    """(float model or None, QAT model or None, meta describing input size and labels)."""
    from tinymoat import saving
    float_model = qat_model = meta = None
    if folders["float"]:
        float_model, meta = saving.load(folders["float"])
    if folders["qat"]:
        from tinymoat import quantization
        try:
            qat_model, qat_meta = quantization.load_qat(folders["qat"])
        except (saving.SavedModelError, ValueError) as exc:
            raise EvalError(str(exc).splitlines()[0]) from None
        if meta and list(qat_meta["input_size"]) != list(meta["input_size"]):
            raise EvalError(f"the QAT model is {qat_meta['input_size']}, the float model "
                            f"{meta['input_size']}: evaluate them separately")
        meta = meta or qat_meta
    return float_model, qat_model, meta


def eval_images(args, meta):
    """(files, labels in the model's label space, classes) of --data."""
    from tinymoat import data as imagedata
    folder = imagedata.scan_folder(args.data, require_all_classes=False)
    labels = meta.get("labels") or folder.classes
    position = {name: i for i, name in enumerate(labels)}
    unknown = [c for c in folder.classes if c not in position]
    if unknown:
        raise EvalError(f"--data {args.data}: class(es) the model does not know: "
                        f"{', '.join(unknown[:5])}" + (" ..." if len(unknown) > 5 else ""))
    order = np.arange(len(folder))
    if args.limit is not None and args.limit < len(folder):
        order = imagedata.balanced_sample(folder.labels, args.limit, args.seed)
    files = [folder.files[i] for i in order]
    mapped = [position[folder.classes[folder.labels[i]]] for i in order]
    return files, mapped, labels


def calibration_images(args, folders, size):
    """(pixels, description) of the PTQ calibration set, saying where it came from."""
    from tinymoat import data as imagedata
    source, why = args.calib_data, "--calib-data"
    if source is None:
        source, why = _training_folder(folders["run"]), "the run's training folder"
    if source is None:
        source, why = args.data, "the evaluation images (no --calib-data and no run " \
                                 "training folder: PTQ numbers are optimistic)"
    loaded = imagedata.load_folder(source, size, limit=args.calib_limit, seed=args.seed)
    return loaded.pixels, {"source": source, "why": why, "images": int(len(loaded.pixels)),
                           "skipped": len(loaded.skipped), "statistic": args.calibration}


def _training_folder(run: Optional[str]) -> Optional[str]:
    train = _run_images(run).get("train")
    return train["spec"] if train and train["usable"] else None


def _run_images(run: Optional[str]) -> Dict:
    """The run's image folders (quantization/training/run.py: image_folders), or {}."""
    from .training.errors import TrainError
    from .training.run import RUN_FILE, image_folders
    if not run or not os.path.isfile(os.path.join(run, RUN_FILE)):
        return {}
    try:
        return image_folders(run)
    except TrainError as exc:
        raise EvalError(str(exc)) from None


def build_predictors(args, folders, float_model, qat_model, meta, out_dir):
    """name -> predictor, plus notes per model (tflite file, float ops, calibration)."""
    from tinymoat.preprocess import preprocess

    from . import int8_tflite
    from .accuracy import TFLitePredictor, keras_predictor
    predictors, notes = {}, {}
    graph = "mixed" if args.mixed else "integer"
    if float_model is not None:
        predictors["float"] = keras_predictor(float_model, args.batch_size)
        notes["float"] = {"model": folders["float"], "precision": "float32"}
    if args.ptq:
        pixels, calib = calibration_images(args, folders, tuple(meta["input_size"]))
        data = _convert(lambda: int8_tflite(
            float_model, preprocess(pixels, meta["config"].normalization), graph=graph,
            gelu=args.gelu, calibration=args.calibration), "PTQ")
        predictors["ptq-int8"] = TFLitePredictor(data, args.threads)
        notes["ptq-int8"] = _tflite_notes(data, out_dir, "ptq_int8.tflite", graph=graph,
                                          calibration=calib)
    if qat_model is not None:
        data = _convert(lambda: int8_tflite(qat_model=qat_model, graph=graph), "QAT")
        predictors["qat-int8"] = TFLitePredictor(data, args.threads)
        notes["qat-int8"] = _tflite_notes(data, out_dir, "qat_int8.tflite", graph=graph,
                                          model=folders["qat"])
    return predictors, notes


def _convert(convert, what: str) -> bytes:
    """Runs a conversion; a graph left with float ops is a one-line error."""
    try:
        return convert()
    except RuntimeError as exc:
        if type(exc).__name__ != "NotFullyIntegerError":
            raise
        hint = " (pass --mixed to accept it)" if what == "PTQ" else ""
        raise EvalError(f"{what} INT8 conversion: {str(exc).splitlines()[0]}{hint}") from None


def _tflite_notes(data, out_dir, name, **extra):
    from tinymoat.fileio import write_bytes

    from .tflite.ops import float_ops
    write_bytes(os.path.join(out_dir, name), data)
    return {"precision": "int8", "file": name, "size_bytes": len(data),
            "float_ops": [str(op) for op in float_ops(data)], **extra}


def report(args, meta, classes, tallies, notes, skipped, seconds) -> Dict:
    float_top1 = tallies["float"].as_dict()["top1"] if "float" in tallies else None
    results = []
    for name, tally in tallies.items():
        row = {"name": name, **tally.as_dict(), **notes.get(name, {})}
        if float_top1 is not None and name != "float":
            row["top1_drop_points"] = 100 * (float_top1 - row["top1"])
        results.append(row)
    images = next(iter(tallies.values())).images if tallies else 0
    return {"schema": SCHEMA, "variant": meta["config"].name,
            "input_size": list(meta["input_size"]), "num_classes": len(classes),
            "data": {"source": args.data, "images": images, "skipped": len(skipped),
                     "skipped_examples": skipped[:20],
                     "sample": f"seeded class-balanced sample of {args.limit}" if args.limit
                     else "all images"},
            "results": results, "seconds": round(seconds, 1)}


def markdown(result: Dict) -> str:
    lines = [f"# Accuracy of {result['variant']} at {result['input_size'][0]}x"
             f"{result['input_size'][1]}", "",
             f"{result['data']['images']} images from `{result['data']['source']}` "
             f"({result['data']['skipped']} unreadable skipped), {result['num_classes']} classes.",
             "", "| model | top-1 | top-5 | top-1 vs float |", "|---|---:|---:|---:|"]
    for row in result["results"]:
        drop = row.get("top1_drop_points")
        delta = "" if drop is None else f"{0.0 - drop:+.2f} pt"
        lines.append(f"| {row['name']} | {row['top1']:.2%} | {row['top5']:.2%} | {delta} |")
    for row in result["results"]:
        calib = row.get("calibration")
        if calib:
            lines += ["", f"PTQ calibration: {calib['images']} images from `{calib['source']}` "
                          f"({calib['why']}), {calib['statistic']}."]
        if row.get("float_ops"):
            lines += ["", f"{row['name']}: {len(row['float_ops'])} float op(s) left: "
                          f"{', '.join(row['float_ops'][:5])}"]
    return "\n".join(lines) + "\n"


def run(args) -> Dict:
    from tinymoat.config import as_hw
    from tinymoat.fileio import write_text

    from .accuracy import evaluate
    start = time.time()
    folders = resolve_models(args)
    resolve_data(args, folders["run"])
    float_model, qat_model, meta = load_models(folders)
    files, labels, classes = eval_images(args, meta)
    os.makedirs(args.out, exist_ok=True)
    predictors, notes = build_predictors(args, folders, float_model, qat_model, meta, args.out)
    tallies, skipped = evaluate(predictors, files, labels, as_hw(meta["input_size"]),
                                meta["config"].normalization, args.batch_size,
                                progress=sys.stderr.isatty())
    if skipped:
        print(f"{PROG}: warning: skipped {len(skipped)} unreadable image(s) (e.g. "
              f"{skipped[0]})", file=sys.stderr)
    if not any(t.images for t in tallies.values()):
        raise EvalError(f"--data {args.data}: no readable images")
    result = report(args, meta, classes, tallies, notes, skipped, time.time() - start)
    write_text(os.path.join(args.out, "accuracy.json"), json.dumps(result, indent=1))
    write_text(os.path.join(args.out, "accuracy.md"), markdown(result))
    return result


def main(argv: Optional[List[str]] = None) -> int:
    args = parser().parse_args(argv)
    from tinymoat.data import DataError
    from tinymoat.saving import SavedModelError
    for flag, value in (("--calib-limit", args.calib_limit), ("--batch-size", args.batch_size),
                        ("--limit", args.limit), ("--threads", args.threads)):
        if value is not None and value < 1:  # --limit 0 would mean "all" further down
            print(f"{PROG}: error: {flag} must be at least 1", file=sys.stderr)
            return 2
    if args.gelu and (args.mixed or not args.ptq):
        print(f"{PROG}: error: --gelu applies to --ptq without --mixed (the mixed graph "
              "computes the exact GELU; a QAT model has its own form)", file=sys.stderr)
        return 2
    try:
        result = run(args)
    except (EvalError, DataError, SavedModelError) as exc:
        print(f"{PROG}: error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    print(markdown(result), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
