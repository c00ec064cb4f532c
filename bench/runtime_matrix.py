"""tiny-MOAT INT8 on every TFLite runtime an app embeds, beside MobileNetV2.

    python bench/runtime_matrix.py [--runtimes litert-2.3,litert-1.4,tflite-2.14]
                                   [--runs 15] [--calibration 8] [--no-record]

Builds tiny-moat-0 at 224, float32 and the default INT8 export (TFLiteTarget,
like `tinymoat-export --int8`), with seeded random weights drawn like the
deeplab2 fixtures' (bench/weights.py), and Keras MobileNetV2-1.0 float32 and
INT8 (the stock converter with a representative dataset). Each runtime
(export/latency/runtimes.py: its own cached virtualenv, created on first use)
times the four models at 1 thread with XNNPACK, interleaved round by round
in one process, median of --runs rounds. Per runtime it prints: ms, tiny-moat-0's
INT8/float32, MobileNetV2's INT8/float32, their quotient, the XNNPACK
partitions and the ops left outside XNNPACK, and the largest output difference
to the project's LiteRT.

The INT8 export is also built from two more weight sets (the checkpoint
fixture ../shared/fixtures/deeplab2/tiny_moat0_224 when present, and another
seed) to count its partitions on each runtime: which ops a delegate takes can
depend on the int8 ranges the weights produce. A fifth timed row, "bmm-float",
is the INT8 graph with its attention matmuls as float islands
(quantization/tflite/islands.py float_islands on BATCH_MATMUL), the form LiteRT 1.4's XNNPACK
takes whole. SQNR against the float Keras
model on held-out photo crops is printed for each INT8 graph.

Targets, each printed with PASS/FAIL: INT8/float32 within 1.15x of
MobileNetV2's on litert-2.3 and on litert-1.4; exactly one XNNPACK partition
on litert-2.3 for every weight set. tflite-2.14 (its x86 build has no fast
int8 kernels) is reported without a target.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from record import cpu_description, write_section  # noqa: E402
from weights import FIXTURE, fixture_style_weights  # noqa: E402

VARIANT, SIZE = "tiny-moat-0", 224
RATIO_TARGET = 1.15
TARGET_RUNTIMES = ("litert-2.3", "litert-1.4")
HELD_OUT = 16


def _job(model, calibration_count):
    from tinymoat import data
    from tinymoat.export.target import ExportJob
    pixels = data.sample_photo_crops(SIZE, count=calibration_count).pixels
    return ExportJob(model=model, variant=VARIANT, input_size=(SIZE, SIZE),
                     labels=[f"class_{i}" for i in range(model.output.shape[-1])],
                     normalization=model.moat_config.normalization, calibration=pixels,
                     input_type="int8", output_type="int8")


def _export(job, precision, folder, name):
    from tinymoat.export.tflite import TFLiteTarget
    path = os.path.join(folder, name)
    TFLiteTarget().export(job, precision, path)
    return path


def _sqnr(model, job, path):
    """(SQNR dB, top-1 agreement) of the INT8 graph against the Keras model on photo crops."""
    from tinymoat import data
    from tinymoat.export.validate import compare
    from tinymoat.quantization.evaluate import run_tflite
    images = job.normalized(data.sample_photo_crops(SIZE, count=HELD_OUT, seed=1).pixels)
    reference = model.predict(images, batch_size=8, verbose=0)
    with open(path, "rb") as f:
        logits = run_tflite(f.read(), images)
    figures = compare(reference, logits)
    return float(figures["sqnr_db"]), float(figures["top1_agreement"])


def _mobilenet(folder):
    from tinymoat._keras import keras, tf
    model = keras.applications.MobileNetV2(weights=None, input_shape=(SIZE, SIZE, 3))
    images = np.random.RandomState(0).uniform(-1, 1, (8, SIZE, SIZE, 3)).astype(np.float32)
    paths = []
    for precision in ("float32", "int8"):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if precision == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([images[i:i + 1]] for i in range(8))
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
        path = os.path.join(folder, f"mobilenet_v2_{precision}.tflite")
        with open(path, "wb") as f:
            f.write(converter.convert())
        paths.append(path)
    return paths


def _bmm_islands(path):
    """The INT8 graph with its attention matmuls as float islands (DEQUANTIZE, BATCH_MATMUL in
    float32, QUANTIZE): the form LiteRT 1.4's XNNPACK takes, which has no int8 BATCH_MATMUL."""
    from tinymoat.quantization.tflite.islands import float_islands
    with open(path, "rb") as f:
        data = float_islands(f.read(), ops=("BATCH_MATMUL",))
    out = path.replace(".tflite", "_bmm_float.tflite")
    with open(out, "wb") as f:
        f.write(data)
    return out


def build(folder, calibration_count):
    """{row: path} of the timed models, {weight set: (int8 path, SQNR, top-1)}."""
    import tinymoat
    from tinymoat.export import progress
    progress.ENABLED = False
    model = tinymoat.build_model(VARIANT, SIZE, batch_size=1)
    timed, weight_sets = {}, {}
    sets = [("random seed 0", lambda m: fixture_style_weights(m, seed=0))]
    if os.path.isdir(FIXTURE):
        sets.append(("checkpoint fixture", lambda m: tinymoat.load_deeplab2_checkpoint(m, FIXTURE)))
    sets.append(("random seed 1", lambda m: fixture_style_weights(m, seed=1)))
    for k, (name, assign) in enumerate(sets):
        assign(model)
        job = _job(model, calibration_count)
        int8 = _export(job, "int8", folder, f"tm0_w{k}_int8.tflite")
        weight_sets[name] = (int8, *_sqnr(model, job, int8))
        if k == 0:
            timed["tm0 float32"] = _export(job, "float32", folder, "tm0_float32.tflite")
            timed["tm0 int8"] = int8
            timed["tm0 int8 bmm-float"] = _bmm_islands(int8)
            weight_sets["random seed 0, bmm-float"] = (timed["tm0 int8 bmm-float"],
                                                       *_sqnr(model, job, timed["tm0 int8 bmm-float"]))
    timed["mnv2 float32"], timed["mnv2 int8"] = _mobilenet(folder)
    return timed, weight_sets


def _feeds(paths):
    from ai_edge_litert.interpreter import Interpreter
    feeds = []
    for path in paths:
        detail = Interpreter(model_path=path).get_input_details()[0]
        x = np.random.RandomState(0).uniform(-1, 1, detail["shape"])
        if np.dtype(detail["dtype"]) != np.float32:
            x = np.clip(np.round(x * 100), -128, 127)
        feeds.append([x.astype(detail["dtype"])])
    return feeds


def verdict(ok):
    return "PASS" if ok else "FAIL"


def _outside(ops):
    return ", ".join(f"{op} x{n}" for op, n in ops.items()) or "none"


def measure_runtime(python, timed, rows, feeds, weight_sets, runs):
    """(runner result of the timed rows, max abs diff per row to the project's LiteRT,
    {weight set: (partitions, ops outside)}) on one runtime."""
    from tinymoat.export.latency import runtimes
    result, outputs = runtimes.run_models(python, [timed[r] for r in rows], feeds,
                                          runs=runs, warmup=3)
    diffs = []
    for row, feed, out in zip(rows, feeds, outputs):
        reference, details = runtimes.reference_outputs(timed[row], feed)
        diffs.append(runtimes.agreement(out, reference, details)["max_abs_diff"])
    partitions = {}
    for set_name, (path, _, _) in weight_sets.items():
        facts, _ = runtimes.run_models(python, [path], _feeds([path]), runs=1, warmup=0)
        partitions[set_name] = (facts["models"][0]["partitions"],
                                facts["models"][0]["ops_outside"])
    return result, diffs, partitions


def build_and_measure(pythons, calibration_count, runs):
    """(timed row names, {weight set: (path, SQNR, top-1)}, {runtime: measure_runtime(...)})."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        timed, weight_sets = build(folder, calibration_count)
        print(f"built {len(timed)} timed models and {len(weight_sets)} INT8 weight sets in "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        rows = list(timed)
        feeds = _feeds([timed[r] for r in rows])
        results = {}
        for name, python in pythons.items():
            results[name] = measure_runtime(python, timed, rows, feeds, weight_sets, runs)
            print(f"timed on {name} ({results[name][0]['runtime']['version']})", flush=True)
    return rows, weight_sets, results


def runtime_table(rows, results, runs):
    """(lines of the per-runtime table and the bmm-float notes, {runtime: quotient})."""
    lines = [f"{VARIANT} at {SIZE}x{SIZE} and MobileNetV2-1.0, 1 thread, XNNPACK, median of "
             f"{runs} interleaved rounds per runtime; {cpu_description()}", "",
             "| runtime | tm0 fp32 ms | tm0 int8 ms | tm0 INT8/fp32 | MNv2 fp32 ms | MNv2 int8 ms "
             "| MNv2 INT8/fp32 | quotient | partitions (tm0 int8) | ops outside XNNPACK (tm0 int8) "
             "| max abs diff to 2.3 (tm0 fp32 / int8) |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|"]
    quotients, extra = {}, []
    for name, (result, diffs, _) in results.items():
        ms = {row: m["latency_ms"]["median"] for row, m in zip(rows, result["models"])}
        facts = result["models"][rows.index("tm0 int8")]
        ours = ms["tm0 int8"] / ms["tm0 float32"]
        theirs = ms["mnv2 int8"] / ms["mnv2 float32"]
        quotients[name] = ours / theirs
        islands = result["models"][rows.index("tm0 int8 bmm-float")]
        bmm = ms["tm0 int8 bmm-float"] / ms["tm0 float32"]
        extra.append(f"- {name}: tm0 int8 with float-island matmuls (bmm-float): "
                     f"{ms['tm0 int8 bmm-float']:.2f} ms, INT8/fp32 {bmm:.2f} "
                     f"({bmm / theirs:.2f}x MobileNetV2's), "
                     f"{islands['partitions']} partition(s), outside XNNPACK "
                     f"{_outside(islands['ops_outside'])}")
        lines.append(f"| {name} ({result['runtime']['version']}) | {ms['tm0 float32']:.2f} | "
                     f"{ms['tm0 int8']:.2f} | {ours:.2f} | {ms['mnv2 float32']:.2f} | "
                     f"{ms['mnv2 int8']:.2f} | {theirs:.2f} | {ours / theirs:.2f}x | "
                     f"{facts['partitions']} | {_outside(facts['ops_outside'])} | "
                     f"{diffs[0]:.2g} / {diffs[1]:.2g} |")
    return lines + [""] + extra, quotients


def weight_set_table(weight_sets, results) -> list:
    """Lines: SQNR and partitions per INT8 weight set, then the ops each runtime left outside."""
    lines = ["", "| INT8 weight set | SQNR vs Keras (dB) | top-1 agreement | "
             + " | ".join(f"partitions {n}" for n in results) + " |",
             "|---|--:|--:|" + "--:|" * len(results)]
    for set_name, (_, sqnr, top1) in weight_sets.items():
        cells = [f"{results[n][2][set_name][0]}" for n in results]
        lines.append(f"| {set_name} | {sqnr:.1f} | {100 * top1:.0f}% | " + " | ".join(cells) + " |")
    for name in results:
        for set_name in weight_sets:
            partitions, outside = results[name][2][set_name]
            if outside:
                lines.append(f"\n{name}, {set_name}: outside XNNPACK {_outside(outside)}")
    return lines


def target_lines(quotients, weight_sets, results):
    """(lines, [met?]) of the targets."""
    lines, targets = ["", "Targets:"], []
    for name in TARGET_RUNTIMES:
        if name in quotients:
            ok = quotients[name] <= RATIO_TARGET
            targets.append(ok)
            lines.append(f"- {name}: tm0 INT8/fp32 within {RATIO_TARGET}x of MobileNetV2's: "
                         f"{quotients[name]:.2f}x {verdict(ok)}")
    if "litert-2.3" in results:
        counts = {s: results["litert-2.3"][2][s][0] for s in weight_sets}
        ok = all(c == 1 for c in counts.values())
        targets.append(ok)
        lines.append(f"- litert-2.3: one XNNPACK partition for every weight set "
                     f"({', '.join(f'{s}: {c}' for s, c in counts.items())}) {verdict(ok)}")
    if "tflite-2.14" in quotients:
        lines.append(f"- tflite-2.14 (reported, no target): {quotients['tflite-2.14']:.2f}x")
    return lines, targets


def parse_args(argv):
    from tinymoat.export.latency import runtimes
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default=",".join(runtimes.RUNTIMES))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--calibration", type=int, default=8)
    parser.add_argument("--no-record", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    from tinymoat.export.latency import runtimes
    from tinymoat.export.latency.errors import BenchError, UsageError
    args = parse_args(argv)
    try:
        names = runtimes.parse(args.runtimes)
        pythons = {name: runtimes.ensure(name, log=print) for name in names}
    except (UsageError, BenchError) as exc:
        print(f"runtime_matrix: error: {exc}", file=sys.stderr)
        return 2
    rows, weight_sets, results = build_and_measure(pythons, args.calibration, args.runs)
    lines, quotients = runtime_table(rows, results, args.runs)
    lines += weight_set_table(weight_sets, results)
    checked, targets = target_lines(quotients, weight_sets, results)
    body = "\n".join(lines + checked)
    print("\n" + body)
    if not args.no_record:
        command = "python bench/runtime_matrix.py" + (f" --runs {args.runs}"
                                                      if args.runs != 15 else "")
        path = write_section("runtime-matrix", "INT8 on every TFLite runtime (runtime_matrix.py)",
                             command, body)
        print(f"\nwritten to {path}")
    return 0 if all(targets) else 1


if __name__ == "__main__":
    sys.exit(main())
