"""tinymoat.export.export(): the exporter as one Python call.

    from tinymoat.export import export
    result = export("tiny-moat-0", target="tflite", int8=True, out="artifacts")
    for artifact in result.artifacts:
        print(artifact.path, artifact.precision, artifact.validation["sqnr_db"])

`model` is a variant name, a Keras model from tinymoat.build_model, or a path
(deeplab2 checkpoint, tinymoat saved model, tinymoat-train run folder). The
other keyword arguments are tinymoat-export's options with underscores
(`input_size=256`, `calib_data="images/"`, `mixed=True`, `fp16=True`,
`threshold={"sqnr_db": 30}`), checked by the same parser, so a bad one is the
same one-line ExportError. `tinymoat-export` is a thin layer over run().
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Dict, List

from tinymoat.quantization.forms import DEFAULT_INT8_GELU

from . import progress
from .pipeline import Artifact
from .target import ExportError


@dataclasses.dataclass(frozen=True)
class Export:
    """What an export wrote: the output folder, its artifacts, and the report's path."""

    out: str
    artifacts: List[Artifact]
    replaced: bool                 # the folder held a previous export, now replaced

    @property
    def passed(self) -> bool:
        return all(a.passed for a in self.artifacts)

    @property
    def report(self) -> Dict:
        with open(os.path.join(self.out, "report.json"), encoding="utf-8") as f:
            return json.load(f)

    def __getitem__(self, key) -> Artifact:
        """An artifact by file name, by target ("onnx") when there is one, or by index."""
        if isinstance(key, int):
            return self.artifacts[key]
        found = [a for a in self.artifacts
                 if key in (a.file, a.target, f"{a.target}:{a.precision}")]
        if len(found) != 1:
            names = ", ".join(a.file for a in self.artifacts)
            raise KeyError(f"{key!r} names {len(found)} artifacts of this export ({names})")
        return found[0]


def export(model="tiny-moat-0", target: str = "tflite", int8: bool = False,
           out: str = "tinymoat_export", *, verbose: bool = True, **options) -> Export:
    """Writes the artifacts of `target` ("tflite", "onnx", "coreml" or "all") to `out`,
    validates each against its reference model and returns them; raises ExportError with
    a one-line message for a bad option or input. Thresholds missed are not an exception:
    see `Export.passed` and each artifact's `failed`."""
    args = parse(model, target, int8, out, options)
    keras_model = None if isinstance(model, (str, os.PathLike)) else model
    progress.ENABLED, was = verbose, progress.ENABLED
    try:
        return run(args, keras_model, verbose=verbose)
    finally:
        progress.ENABLED = was


def parse(model, target, int8, out, options: Dict):
    """The argparse namespace tinymoat-export would build for the same options."""
    from tinymoat.config import VARIANTS

    from .options import parser
    if isinstance(target, (list, tuple)):
        target = ",".join(target)
    argv = ["--target", str(target), "--out", os.fspath(out)]
    if int8:
        argv.append("--int8")
    if isinstance(model, (str, os.PathLike)):
        model = os.fspath(model)
        if {"variant", "weights"} & set(options):
            raise ExportError("variant/weights: `model` already names the model; pass the "
                              "variant or the path as `model`")
        argv += ["--variant", model] if model in VARIANTS else ["--weights", model]
    elif model is None:
        raise ExportError("model: a variant name, a Keras model from tinymoat.build_model, or "
                          "a path (checkpoint, saved model, run folder)")
    p = parser()
    for name, value in options.items():
        argv += _option(p, name, value)
    p.raise_errors = True
    return p.parse_args(argv)


# Options that take several values joined by commas on the command line, and may be
# given as a list or tuple here.
COMMA_LISTS = ("bench_threads", "bench_runtimes")


def _option(p, name: str, value) -> List[str]:
    """The command-line words of one keyword option, by the parser's own actions: a switch
    (mixed=True, fp16=True) is its flag, any other option its flag and value."""
    switches = {a.option_strings[-1][2:].replace("-", "_"): a for a in p._actions
                if a.option_strings and a.nargs == 0 and a.dest != "help"}
    valued = {a.dest: a for a in p._actions if a.option_strings and a.nargs != 0}
    if name in switches and name != "int8":
        return [switches[name].option_strings[-1]] if value else []
    if name not in valued or name in ("target", "out"):
        import difflib
        known = sorted((set(switches) | set(valued)) - {"int8", "target", "out"})
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise ExportError(f"unknown option {name!r}{hint}; options are "
                          f"tinymoat-export's, with underscores")
    flag = valued[name].option_strings[-1]
    if name == "threshold":
        pairs = value.items() if isinstance(value, dict) else [
            tuple(v.split("=", 1)) if "=" in v else (v, "") for v in
            ([value] if isinstance(value, str) else value)]
        return [x for key, bound in pairs for x in (flag, f"{key}={bound}")]
    if value is None:
        return []
    if name in COMMA_LISTS and isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    if isinstance(value, bool) or isinstance(value, (list, tuple, dict)):
        raise ExportError(f"{name}: expected one value, got {value!r}")
    return [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]


def _say(line: str) -> None:
    print(f"tinymoat-export: {line}", file=sys.stderr)


def _quiet(line: str) -> None:
    pass


def run(args, keras_model=None, verbose: bool = True) -> Export:
    """The export `args` (tinymoat-export's options) describe; `keras_model` replaces the
    variant/weights source when given. Nothing is written unless everything succeeds."""
    from tinymoat.checkpoint import CheckpointError
    from tinymoat.data import DataError
    from tinymoat.saving import SavedModelError
    try:
        return _run(args, keras_model, _say if verbose else _quiet)
    except (CheckpointError, DataError, SavedModelError) as exc:
        raise ExportError(str(exc).splitlines()[0]) from None


def _run(args, keras_model, say) -> Export:
    from .options import check_args
    from .pipeline import staged, write_export
    plan, overrides = check_args(args)
    with staged(args.out, say) as work:
        job, val_pixels, val_labels, context = prepare(args, plan, keras_model)
        say(f"{job.variant} at {job.input_size[0]}x{job.input_size[1]}, "
            f"{job.num_classes} classes")
        for key in ("weights", "calibration_source", "validation_source", "labels_source"):
            if say is _say:
                print(f"  {key.replace('_source', '')}: {context[key]}", file=sys.stderr)
        from .timing import settings
        results = write_export(job, plan, work.new, val_pixels, val_labels, overrides, context,
                               settings(args))
        replaced = os.path.isdir(args.out)
        progress.check_stop()
        work.publish()
    artifacts = [dataclasses.replace(r, folder=args.out) for r in results]
    return Export(args.out, artifacts, replaced)


def prepare(args, plan, keras_model=None):
    """Loads and checks everything the export needs; writes nothing."""
    import numpy as np

    from tinymoat.preprocess import NORMALIZATION

    from . import sources
    from .progress import quiet, step
    from .target import ExportJob

    with step("load model"):
        if keras_model is not None:
            source = sources.from_keras(keras_model, args.variant, args.input_size,
                                        args.num_classes)
        else:
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
                    outputs=args.outputs,
                    calibration_statistic=args.calibration, int8_gelu=args.gelu or DEFAULT_INT8_GELU,
                    onnx_activations=args.onnx_activations,
                    minimum_ios=args.ios,
                    random_weights=source.random)
    with quiet():  # checks may import a converter, which greets stderr
        for target, precision in plan:
            target.check(job, precision)
    context = {"weights": source.weights, "labels_source": labels_source,
               "calibration_source": calib.describe(), "validation_source": val.describe()}
    return job, np.asarray(val.loaded.pixels), val_labels, context
