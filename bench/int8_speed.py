"""INT8 vs float32 latency of tiny-MOAT in the LiteRT interpreter (XNNPACK).

    python bench/int8_speed.py [--variants tiny-moat-0] [--size 224] [--runs 40]
                               [--no-onnx] [--calibration 8] [--no-record]

Every row is built first, then all are timed in one run, interleaved round by
round (one invoke of each model per round), so machine noise hits every row
alike; each figure is the median of `--runs` rounds after warm-up, at 1 and 2
threads. Rows per variant:

  tflite float32        the export's float32 (TFLiteTarget, compact bias)
  tflite int8           the export's full INT8 (TFLiteTarget: ptq_convert, minmax,
                        int8 in/out, SOFTMAX and RSQRT as int8 ops XNNPACK runs,
                        compact bias)
  plain float32/int8    the straightforward conversion of the original Keras
                        model (TFLiteConverter, PTQ with a representative dataset)
                        - the "before" rows
and MobileNetV2-1.0 float32/int8 (random weights, plain conversion), plus
ONNX Runtime rows:

  onnx float32 / int8   the export's ONNX target (OnnxTarget; int8: its default QDQ
                        graph, uint8 pixel input, U8S8)
  onnx int8 .ort        that INT8 file in ORT format (OrtTarget, --ort)
  mobilenet_v2 onnx     tf2onnx of the Keras MobileNetV2; int8 by ONNX Runtime's
                        quantize_static with its default settings (QDQ, S8S8,
                        per-tensor) and the same with uint8 activations (U8S8)

  tflite int8-mixed     the same INT8 graph with GELU (exact), softmax and LayerNorm's
                        1/sqrt computed in float inside XNNPACK (tinymoat-export --int8 --mixed)
  tflite int8-tanh      the full INT8 graph with GELU's tanh form in int8 ops
                        (tinymoat-export --int8 --gelu tanh)

Targets (first variant), printed for each INT8 graph: int8/float32
<= 0.75 at 1 thread (stretch: <= MobileNetV2's own ratio); ms per G-MAC of
INT8 within 1.25x of MobileNetV2 INT8; 2 threads >= 1.6x faster than 1
thread; float32 no slower than the plain float32 conversion; agreement with
the float Keras model (SQNR on held-out photo crops) at least the plain
INT8 conversion's, also on the tiny_moat0_224 checkpoint fixture's weights
when ../shared is beside the repository (agreement only). The ONNX targets
(ONNX): ORT INT8/float32 at 1 thread <= 0.75, or within 1.15x of MobileNetV2's
ORT ratio (quantize_static defaults) where that is higher; ORT float32 <= 1.2x
the TFLite float32 in LiteRT; ONNX INT8 SQNR >= the TFLite INT8's - 1 dB (random
and fixture weights); .ort <= 1.05x the .onnx and no slower. The tables are written to
docs/benchmarks.md (section int8-speed) unless --no-record. Weights are seeded
random, drawn like the deeplab2 fixtures' (see fixture_style_weights):
latency does not depend on the values, but which ops a delegate takes
depends on the int8 ranges they produce.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from record import cpu_description, write_section
from weights import FIXTURE, fixture_style_weights

MOBILENET_V2_MACS = 300e6  # MobileNetV2-1.0 at 224 (the paper's figure)
GRAPHS = ("int8", "int8-mixed", "int8-tanh")  # the export's INT8 graphs
HELD_OUT = 48  # photo crops for the agreement figures (16 left +-0.3 dB of noise)


def _litert():
    from ai_edge_litert.interpreter import Interpreter
    return Interpreter


# ------------------------------------------------------------------ building rows


def export_tflite(job, precision):
    from tinymoat.export.tflite import TFLiteTarget
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.tflite")
        TFLiteTarget().export(job, precision, path)
        with open(path, "rb") as f:
            return f.read()


def export_onnx(job, precision):
    from tinymoat.export.onnx import OnnxTarget
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.onnx")
        OnnxTarget().export(job, precision, path)
        with open(path, "rb") as f:
            return f.read()


def export_ort(job, precision):
    """(.onnx bytes, .ort bytes) of the export's ONNX target and its ORT-format file."""
    from tinymoat.export.onnx import OnnxTarget, OrtTarget
    target = OnnxTarget()
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, "m.onnx"), os.path.join(tmp, "m.ort")]
        target.export(job, precision, paths[0])
        OrtTarget(target).export(job, precision, paths[1])
        return tuple(open(path, "rb").read() for path in paths)


def plain_tflite(model, images=None):
    """TFLiteConverter on the Keras model as it is; full-integer PTQ if images are given."""
    from tinymoat._keras import tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if images is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([images[i:i + 1]] for i in range(len(images)))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()




def tiny_moat_rows(variant, size, calibration_count, onnx, held_out=HELD_OUT):
    import tinymoat
    from tinymoat import data
    model = fixture_style_weights(tinymoat.build_model(variant, size, batch_size=1))
    rows, job, gmacs = export_rows(model, variant, size, calibration_count, onnx)
    held_pixels = data.sample_photo_crops(size, count=held_out, seed=1).pixels
    held = job.normalized(held_pixels)
    agreed = agreement(model, held, rows)
    agreed.update(onnx_agreement(model, held_pixels, job, rows))
    if variant == "tiny-moat-0" and size == 224 and os.path.isdir(FIXTURE):
        # the same rows built from the checkpoint fixture's weights (released layout)
        tinymoat.load_deeplab2_checkpoint(model, FIXTURE)
        fixture_rows, _, _ = export_rows(model, variant, size, calibration_count, onnx=False)
        if onnx:
            fixture_rows.append((f"{variant} onnx int8", "onnx",
                                 export_onnx(dataclasses.replace(job, input_type="uint8"),
                                             "int8"), gmacs))
        fixture_rows = [r for r in fixture_rows if "float32" not in r[0]]
        found = agreement(model, held, fixture_rows)
        found.update(onnx_agreement(model, held_pixels, job, fixture_rows))
        agreed.update({name.replace(variant, f"{variant} [fixture]"): value
                       for name, value in found.items()})
    return rows, agreed


def export_rows(model, variant, size, calibration_count, onnx):
    from tinymoat import data, macs
    from tinymoat.export.target import ExportJob
    pixels = data.sample_photo_crops(size, count=calibration_count).pixels
    job = ExportJob(model=model, variant=variant, input_size=(size, size),
                    labels=[f"class_{i}" for i in range(model.output.shape[-1])],
                    normalization=model.moat_config.normalization, calibration=pixels,
                    input_type="int8", output_type="int8")
    images = job.normalized(pixels)
    gmacs = macs.count(model)["total"]["macs"] / 1e9
    rows = [(f"{variant} tflite float32", "tflite", export_tflite(job, "float32"), gmacs),
            (f"{variant} tflite int8", "tflite", export_tflite(job, "int8"), gmacs),
            (f"{variant} tflite int8-mixed", "tflite", export_tflite(job, "int8-mixed"), gmacs),
            (f"{variant} tflite int8-tanh", "tflite",
             export_tflite(dataclasses.replace(job, int8_gelu="tanh"), "int8"), gmacs),
            (f"{variant} plain float32", "tflite", plain_tflite(model), gmacs),
            (f"{variant} plain int8", "tflite", plain_tflite(model, images), gmacs)]
    if onnx:  # the default ONNX INT8: uint8 pixel input (this job's int8 input is TFLite's)
        onnx_int8, ort_int8 = export_ort(dataclasses.replace(job, input_type="uint8"), "int8")
        onnx_float, ort_float = export_ort(job, "float32")
        rows += [(f"{variant} onnx float32", "onnx", onnx_float, gmacs),
                 (f"{variant} onnx int8", "onnx", onnx_int8, gmacs),
                 (f"{variant} onnx int8 .ort", "onnx", ort_int8, gmacs),
                 (f"{variant} onnx float32 .ort", "size", ort_float, gmacs)]  # size only
    return rows, job, gmacs


def agreement(model, images, rows):
    """{row name: (SQNR dB, top-1 agreement)} of each TFLite row against the Keras model."""
    from tinymoat.export.validate import compare
    from tinymoat.quantization.evaluate import run_tflite
    reference = model.predict(images, batch_size=8, verbose=0)
    found = {}
    for name, kind, data, _ in rows:
        if kind != "tflite":
            continue
        figures = compare(reference, run_tflite(data, images))
        found[name] = (float(figures["sqnr_db"]), float(figures["top1_agreement"]))
    return found


def onnx_agreement(model, pixels, job, rows):
    """{row name: (SQNR dB, top-1 agreement)} of each ONNX row against the Keras model,
    fed as the file asks (uint8 pixels or normalised float32)."""
    import onnxruntime as ort

    from tinymoat.export.validate import compare
    reference = model.predict(job.normalized(pixels), batch_size=8, verbose=0)
    found = {}
    for name, kind, data, _ in rows:
        if kind != "onnx" or name.endswith(".ort"):
            continue
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        feed = session.get_inputs()[0]
        images = pixels if feed.type == "tensor(uint8)" else job.normalized(pixels)
        logits = np.concatenate([session.run(None, {feed.name: x[None]})[0] for x in images])
        figures = compare(reference, logits)
        found[name] = (float(figures["sqnr_db"]), float(figures["top1_agreement"]))
    return found


def mobilenet_onnx_rows(model, images, gmacs):
    """tf2onnx of the Keras MobileNetV2, and ONNX Runtime's quantize_static of it with its
    default settings (QDQ, int8 activations and weights: S8S8) and with uint8 activations."""
    import onnx
    import tf2onnx
    from onnxruntime.quantization import QuantType, quantize_static

    from tinymoat._keras import tf

    class Reader:
        def __init__(self):
            self.items = iter(images)

        def get_next(self):
            image = next(self.items, None)
            return None if image is None else {"input": image[None]}

    spec = (tf.TensorSpec((1,) + images.shape[1:], tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=17)
    rows = [("mobilenet_v2 onnx float32", "onnx", proto.SerializeToString(), gmacs)]
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, "float.onnx")
        onnx.save(proto, source)
        for label, extra in (("int8 (S8S8, default)", {}),
                             ("int8 (U8S8)", {"activation_type": QuantType.QUInt8})):
            target = os.path.join(tmp, "int8.onnx")
            quantize_static(source, target, Reader(), **extra)
            with open(target, "rb") as f:
                rows.append((f"mobilenet_v2 onnx {label}", "onnx", f.read(), gmacs))
    return rows


def mobilenet_rows(size, onnx=True):
    from tinymoat._keras import keras
    model = keras.applications.MobileNetV2(weights=None, input_shape=(size, size, 3))
    images = np.random.RandomState(0).uniform(-1, 1, (8, size, size, 3)).astype(np.float32)
    gmacs = MOBILENET_V2_MACS * (size / 224) ** 2 / 1e9
    rows = [("mobilenet_v2 float32", "tflite", plain_tflite(model), gmacs),
            ("mobilenet_v2 int8", "tflite", plain_tflite(model, images), gmacs)]
    return rows + (mobilenet_onnx_rows(model, images, gmacs) if onnx else [])


def build_in_subprocess(variant, size, calibration_count, onnx, folder):
    """tiny_moat_rows in a child process (TF and tf2onnx keep every graph they
    built: four variants in one process exceed 24 GB); rows come back as files."""
    command = [sys.executable, os.path.abspath(__file__), "--build-one", variant,
               "--size", str(size), "--calibration", str(calibration_count), "--out", folder]
    if not onnx:
        command.append("--no-onnx")
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(folder, "rows.json")) as f:
        listed, agreed = json.load(f)
    rows = []
    for name, kind, file_name, gmacs in listed:
        with open(os.path.join(folder, file_name), "rb") as f:
            rows.append((name, kind, f.read(), gmacs))
    return rows, agreed


def write_rows(rows, agreed, folder):
    listed = []
    for i, (name, kind, data, gmacs) in enumerate(rows):
        file_name = f"{i}.{kind}"
        with open(os.path.join(folder, file_name), "wb") as f:
            f.write(data)
        listed.append((name, kind, file_name, gmacs))
    with open(os.path.join(folder, "rows.json"), "w") as f:
        json.dump([listed, agreed], f)


# ------------------------------------------------------------------ running


class TFLiteRunner:
    def __init__(self, data, threads):
        self.interpreter = _litert()(model_content=data, num_threads=threads)
        self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        x = np.random.RandomState(0).uniform(-1, 1, detail["shape"])
        if np.dtype(detail["dtype"]) != np.float32:
            x = np.clip(np.round(x * 100), -128, 127)
        self.interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))

    def __call__(self):
        self.interpreter.invoke()


class OnnxRunner:
    def __init__(self, data, threads):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Spinning ORT workers would steal the cores from the rows timed next.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        feed = self.session.get_inputs()[0]
        shape = [1 if not isinstance(d, int) else d for d in feed.shape]
        x = np.random.RandomState(0).uniform(-1, 1, shape)
        self.feed = {feed.name: (np.round((x + 1) * 127.5).astype(np.uint8)
                                 if feed.type == "tensor(uint8)" else x.astype(np.float32))}

    def __call__(self):
        self.session.run(None, self.feed)


def time_all(runners, runs, warmup=5):
    """{key: median ms}: rounds of one call per runner, interleaved."""
    for _ in range(warmup):
        for run in runners.values():
            run()
    times = collections.defaultdict(list)
    for _ in range(runs):
        for key, run in runners.items():
            start = time.perf_counter()
            run()
            times[key].append((time.perf_counter() - start) * 1e3)
    return {key: float(np.median(v)) for key, v in times.items()}


# ------------------------------------------------------------------ graph facts


def graph_facts(data):
    """(partitions, {op: (count, delegated count)}) of a TFLite model under XNNPACK.

    An op runs in XNNPACK if its output is produced by a DELEGATE node or is
    internal to one (TFLite allocates no buffer for it: reading it fails).
    """
    interpreter = _litert()(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()  # pylint: disable=protected-access
    delegate_out = {int(t) for o in ops if o["op_name"] == "DELEGATE" for t in o["outputs"]}
    counts = collections.defaultdict(lambda: [0, 0])
    for op in ops:
        if op["op_name"] == "DELEGATE":
            continue
        out = int(op["outputs"][0])
        delegated = out in delegate_out
        if not delegated:
            try:
                interpreter.get_tensor(out)
            except ValueError:
                delegated = True
        counts[op["op_name"]][0] += 1
        counts[op["op_name"]][1] += delegated
    partitions = sum(o["op_name"] == "DELEGATE" for o in ops)
    return partitions, {k: tuple(v) for k, v in sorted(counts.items(), key=lambda kv: -kv[1][0])}


# ------------------------------------------------------------------ report


def onnx_targets(v, ms, ratio, agreed, info, emit):
    """Issue 17's targets for the ONNX rows of variant v (1 thread)."""
    from tinymoat.export.onnx import ORT_SIZE_LIMIT
    mine = ratio[f"{v} onnx"][0]
    mnet = ratio["mobilenet_v2 onnx S8S8, default"][0]
    bound = max(0.75, 1.15 * mnet)
    versus_tflite = ms[(f"{v} onnx float32", 1)] / ms[(f"{v} tflite float32", 1)]
    checks = [
        ("ORT INT8/float32 <= 0.75, or <= 1.15x MobileNetV2's ORT ratio "
         f"({mnet:.2f}, quantize_static defaults) where higher", mine <= bound,
         f"{mine:.2f} (bound {bound:.2f}; MobileNetV2 U8S8 "
         f"{ratio['mobilenet_v2 onnx U8S8'][0]:.2f})"),
        ("ORT float32 <= 1.2x the TFLite float32 in LiteRT", versus_tflite <= 1.2,
         f"{ms[(f'{v} onnx float32', 1)]:.2f} vs {ms[(f'{v} tflite float32', 1)]:.2f} ms "
         f"({versus_tflite:.2f}x)"),
    ]
    ort_ms, onnx_ms = ms[(f"{v} onnx int8 .ort", 1)], ms[(f"{v} onnx int8", 1)]
    checks.append((".ort INT8 no slower than the .onnx INT8 (3 % timing tolerance)",
                   ort_ms <= 1.03 * onnx_ms,
                   f"{ort_ms:.2f} vs {onnx_ms:.2f} ms ({ort_ms / onnx_ms:.3f}x)"))
    for tag in ("", " [fixture]"):
        onnx_q, tflite_q = agreed.get(f"{v}{tag} onnx int8"), agreed.get(f"{v}{tag} tflite int8")
        if onnx_q and tflite_q:
            checks.append((f"ONNX INT8 SQNR >= TFLite INT8's - 1 dB"
                           f"{' (checkpoint fixture)' if tag else ' (random weights)'}",
                           onnx_q[0] >= tflite_q[0] - 1,
                           f"{onnx_q[0]:.2f} vs {tflite_q[0]:.2f} dB"))
    for precision in ("int8", "float32"):
        onnx_bytes = len(info[f"{v} onnx {precision}"][1])
        ort_bytes = len(info[f"{v} onnx {precision} .ort"][1])
        checks.append((f".ort <= {ORT_SIZE_LIMIT}x the .onnx ({precision})",
                       ort_bytes <= ORT_SIZE_LIMIT * onnx_bytes,
                       f"{ort_bytes / 1e6:.3f} vs {onnx_bytes / 1e6:.3f} MB "
                       f"({ort_bytes / onnx_bytes:.3f}x)"))
    emit(f"\nONNX targets, {v} (ONNX Runtime CPU EP, 1 thread)")
    for text, ok, value in checks:
        emit(f"    {verdict(ok)}  {text}: {value}")


def verdict(ok):
    return "PASS" if ok else "FAIL"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="tiny-moat-0")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--calibration", type=int, default=8)
    parser.add_argument("--no-onnx", dest="onnx", action="store_false")
    parser.add_argument("--no-record", dest="record", action="store_false",
                        help="print only; do not write docs/benchmarks.md")
    parser.add_argument("--build-one", help=argparse.SUPPRESS)  # child process mode
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from tinymoat.export import progress
    progress.ENABLED = False
    if args.build_one:
        write_rows(*tiny_moat_rows(args.build_one, args.size, args.calibration, args.onnx),
                   args.out)
        return 0
    if args.runs < 30:
        parser.error("--runs must be at least 30")

    variants = args.variants.split(",")
    start = time.perf_counter()
    rows, agreed = [], {}
    for variant in variants:
        with tempfile.TemporaryDirectory() as folder:
            built, found = build_in_subprocess(variant, args.size, args.calibration, args.onnx,
                                               folder)
            rows += built
            agreed.update(found)
    rows += mobilenet_rows(args.size, args.onnx)
    print(f"built {len(rows)} models in {time.perf_counter() - start:.0f} s", flush=True)

    runners = {}
    for name, kind, data, _ in rows:
        if kind == "size":  # kept for its size only
            continue
        for threads in (1, 2):
            runners[(name, threads)] = (TFLiteRunner if kind == "tflite" else OnnxRunner)(
                data, threads)
    load_before = os.getloadavg()[0]
    ms = time_all(runners, args.runs)
    load_after = os.getloadavg()[0]
    info = {name: (kind, data, gmacs) for name, kind, data, gmacs in rows}
    report = []

    def emit(text=""):
        print(text)
        report.append(text)

    emit(f"\nLatency at {args.size}x{args.size}, median of {args.runs} interleaved runs "
          f"(LiteRT + XNNPACK; ONNX Runtime CPU); {cpu_description()}; {os.cpu_count()} CPUs, "
          f"1-min load average "
          f"{load_before:.1f} before timing, {load_after:.1f} after (2-thread figures need "
          "idle cores)")
    emit("| model | MB | G-MAC | ms 1 thr | ms 2 thr | 2-thr speed-up | ms/G-MAC (1 thr) "
          "| XNNPACK partitions |")
    emit("|---|---|---|---|---|---|---|---|")
    facts = {}
    for name, (kind, data, gmacs) in info.items():
        if kind == "size":
            continue
        parts = ""
        if kind == "tflite":
            facts[name] = graph_facts(data)
            parts = str(facts[name][0])
        one, two = ms[(name, 1)], ms[(name, 2)]
        emit(f"| {name} | {len(data) / 1e6:.2f} | {gmacs:.3f} | {one:.2f} | {two:.2f} "
              f"| {one / two:.2f}x | {one / gmacs:.1f} | {parts} |")

    emit("\nINT8 / float32 latency ratios")
    emit("| pair | 1 thread | 2 threads |")
    emit("|---|---|---|")
    pairs = []
    for variant in variants:
        pairs += [(f"{variant} tflite int8", f"{variant} tflite int8", f"{variant} tflite float32"),
                  (f"{variant} tflite int8-mixed", f"{variant} tflite int8-mixed",
                   f"{variant} tflite float32"),
                  (f"{variant} tflite int8-tanh", f"{variant} tflite int8-tanh",
                   f"{variant} tflite float32"),
                  (f"{variant} plain (before)", f"{variant} plain int8",
                   f"{variant} plain float32")]
        if args.onnx:
            pairs += [(f"{variant} onnx", f"{variant} onnx int8", f"{variant} onnx float32"),
                      (f"{variant} onnx .ort", f"{variant} onnx int8 .ort",
                       f"{variant} onnx float32")]
    pairs.append(("mobilenet_v2", "mobilenet_v2 int8", "mobilenet_v2 float32"))
    if args.onnx:
        pairs += [(f"mobilenet_v2 onnx {kind}", f"mobilenet_v2 onnx int8 ({kind})",
                   "mobilenet_v2 onnx float32") for kind in ("S8S8, default", "U8S8")]
    ratio = {}
    for label, q, f in pairs:
        ratio[label] = tuple(ms[(q, t)] / ms[(f, t)] for t in (1, 2))
        emit(f"| {label} | {ratio[label][0]:.2f} | {ratio[label][1]:.2f} |")

    emit(f"\nAgreement with the float Keras model ({HELD_OUT} held-out photo crops; "
          "fixture-style random weights, [fixture]: the tiny_moat0_224 checkpoint fixture's)")
    emit("| model | SQNR dB | top-1 agreement |")
    emit("|---|---|---|")
    for name, (sqnr, top1) in agreed.items():
        emit(f"| {name} | {sqnr:.2f} | {top1:.2f} |")

    for variant in variants:
        for graph in GRAPHS:
            name = f"{variant} tflite {graph}"
            emit(f"\n{name}: ops by type (delegated to XNNPACK / total)")
            emit(", ".join(f"{op} {d}/{n}" for op, (n, d) in facts[name][1].items()))

    v = variants[0]
    f, plain_f = f"{v} tflite float32", f"{v} plain float32"
    mnet = ratio["mobilenet_v2"][0]
    mnet_q = "mobilenet_v2 int8"
    emit("\nTFLite INT8 targets, for the default full-INT8 graph, --mixed and --gelu tanh")
    for graph in GRAPHS:
        q = f"{v} tflite {graph}"
        mine = ratio[q][0]
        per_mac = (ms[(q, 1)] / info[q][2]) / (ms[(mnet_q, 1)] / info[mnet_q][2])
        speedup = ms[(q, 1)] / ms[(q, 2)]
        before = agreed[f"{v} plain int8"][0]
        fixture = [agreed.get(f"{v} [fixture] {kind}", (None,))[0]
                   for kind in (f"tflite {graph}", "plain int8")]
        checks = [
            ("1. int8/float32 at 1 thread <= 0.75", mine <= 0.75, f"{mine:.2f}"),
            (f"1s. stretch: <= MobileNetV2's own ratio ({mnet:.2f})", mine <= mnet, f"{mine:.2f}"),
            ("2. ms/G-MAC within 1.25x of MobileNetV2 INT8", per_mac <= 1.25, f"{per_mac:.2f}x"),
            ("3. 2 threads >= 1.6x faster than 1", speedup >= 1.6, f"{speedup:.2f}x"),
            ("5. agreement with float >= the plain conversion's (SQNR)",
             agreed[q][0] >= before, f"{agreed[q][0]:.2f} vs {before:.2f} dB"),
        ]
        if None not in fixture:
            checks.append(("5f. the same on the checkpoint fixture's weights",
                           fixture[0] >= fixture[1], f"{fixture[0]:.2f} vs {fixture[1]:.2f} dB"))
        emit(f"  {q}:")
        for text, ok, value in checks:
            emit(f"    {verdict(ok)}  {text}: {value}")
    emit(f"  {f}:")
    slower = ms[(f, 1)] / ms[(plain_f, 1)]
    emit(f"    {verdict(slower <= 1.02)}  4. no slower than the plain float32 conversion "
          f"(1 thread, 2% noise allowance): {ms[(f, 1)]:.2f} vs {ms[(plain_f, 1)]:.2f} ms "
          f"({slower:.3f}x); sizes: python bench/export_size.py")
    if args.onnx:
        onnx_targets(v, ms, ratio, agreed, info, emit)
    if args.record:
        command = "python bench/int8_speed.py " + " ".join(argv if argv is not None
                                                            else sys.argv[1:])
        path = write_section("int8-speed", "INT8 vs float32 latency and agreement "
                             "(bench/int8_speed.py)", command.strip(), "\n".join(report))
        print(f"\nwrote {os.path.relpath(path)}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
