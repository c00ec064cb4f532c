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

Targets (first variant), each printed with its key and PASS/FAIL; the bounds
are data (TFLITE_INT8_TARGETS, FLOAT32_TARGET, ONNX_TARGETS below). For each
INT8 graph: int8/float32 at 1 thread (stretch: MobileNetV2's own ratio); ms
per G-MAC against MobileNetV2 INT8; the 2-thread speed-up; agreement with the
float Keras model (SQNR on held-out photo crops) at least the plain INT8
conversion's, also on the tiny_moat0_224 checkpoint fixture's weights when
../shared is beside the repository (agreement only). The export's float32 no
slower than the plain float32 conversion. ONNX: ORT INT8/float32 at 1 thread,
or against MobileNetV2's ORT ratio (quantize_static defaults) where that is
higher; ORT float32 against the TFLite float32 in LiteRT; ONNX INT8 SQNR
against the TFLite INT8's (random and fixture weights); the .ort file's size
and speed against the .onnx. Timing: bench/interleaved.py (the latency
harness's interleaved loop and statistics). The tables are written to
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
from typing import Optional

import numpy as np

from interleaved import OnnxRunner, TFLiteRunner, litert_interpreter, medians_ms
from record import cpu_description, write_section
from weights import FIXTURE, fixture_style_weights

MOBILENET_V2_MACS = 300e6  # MobileNetV2-1.0 at 224 (the paper's figure)
GRAPHS = ("int8", "int8-mixed", "int8-tanh")  # the export's INT8 graphs
HELD_OUT = 48  # photo crops for the agreement figures (16 left +-0.3 dB of noise)


@dataclasses.dataclass(frozen=True)
class Target:
    """A pass/fail bound on one figure: met when value <= bound (at_most) or >= bound.

    `relative`: or at most that many times a reference figure (MobileNetV2's), where
    that is looser. `description` may name {bound}, {relative} and figures its check
    supplies ({reference}, {weights}, {precision}).
    """

    key: str
    description: str
    bound: Optional[float]
    at_most: bool = True
    relative: Optional[float] = None

    def limit(self, reference=None) -> float:
        bounds = [self.bound] if self.bound is not None else []
        if self.relative is not None:
            bounds.append(self.relative * reference)
        return max(bounds)

    def met(self, value, reference=None) -> bool:
        limit = self.limit(reference)
        return value <= limit if self.at_most else value >= limit

    def describe(self, **figures) -> str:
        return self.description.format(bound=self.bound, relative=self.relative, **figures)


# Checked for each INT8 graph of the first variant (GRAPHS). Agreement values are the SQNR
# difference to the plain INT8 conversion's, in dB.
TFLITE_INT8_TARGETS = (
    Target("int8-ratio", "int8/float32 at 1 thread <= {bound}", 0.75),
    Target("int8-ratio-stretch", "stretch: <= MobileNetV2's own ratio ({reference:.2f})",
           None, relative=1.0),
    Target("int8-ms-per-gmac", "ms/G-MAC within {bound}x of MobileNetV2 INT8", 1.25),
    Target("int8-thread-scaling", "2 threads >= {bound}x faster than 1", 1.6, at_most=False),
    Target("int8-agreement", "agreement with float >= the plain conversion's (SQNR)", 0.0,
           at_most=False),
    Target("int8-agreement-fixture", "the same on the checkpoint fixture's weights", 0.0,
           at_most=False),
)
# The export's float32 against the plain float32 conversion, 1 thread (2 % for noise).
FLOAT32_TARGET = Target("float32-vs-plain", "no slower than the plain float32 conversion "
                        "(1 thread, <= {bound}x: noise allowance)", 1.02)
# ONNX Runtime CPU EP, 1 thread. onnx-int8-agreement's value: dB below the TFLite INT8's
# SQNR; ort-format-size's bound is the exporter's own (tinymoat.export.onnx.ORT_SIZE_LIMIT).
ONNX_TARGETS = (
    Target("ort-int8-ratio", "ORT INT8/float32 <= {bound}, or <= {relative}x MobileNetV2's "
           "ORT ratio ({reference:.2f}, quantize_static defaults) where higher", 0.75,
           relative=1.15),
    Target("ort-float32-vs-litert", "ORT float32 <= {bound}x the TFLite float32 in LiteRT",
           1.2),
    Target("ort-format-speed", ".ort INT8 no slower than the .onnx INT8 (<= {bound}x: "
           "timing tolerance)", 1.03),
    Target("onnx-int8-agreement", "ONNX INT8 SQNR >= TFLite INT8's - {bound:g} dB ({weights})",
           1.0),
    Target("ort-format-size", ".ort <= {bound}x the .onnx ({precision})", None),
)


def target_named(key) -> Target:
    return next(t for t in TFLITE_INT8_TARGETS + (FLOAT32_TARGET,) + ONNX_TARGETS
                if t.key == key)


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


# ------------------------------------------------------------------ graph facts


def graph_facts(data):
    """(partitions, {op: (count, delegated count)}) of a TFLite model under XNNPACK.

    Op counts come from the flatbuffer (tinymoat.quantization.tflite.ops); the
    partitions and the ops XNNPACK left outside from the interpreter after
    delegation, which only it knows, through the harness's one reader of them
    (runtime_runner.graph_facts).
    """
    from tinymoat.export.latency import runtime_runner
    from tinymoat.quantization.tflite.ops import tflite_ops
    interpreter = litert_interpreter()(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    facts = runtime_runner.graph_facts(interpreter)
    outside = facts["ops_outside"]
    counts = collections.Counter(op.name for op in tflite_ops(data))  # in graph order
    return facts["partitions"], {op: (n, n - outside.get(op, 0))
                                 for op, n in sorted(counts.items(), key=lambda kv: -kv[1])}


# ------------------------------------------------------------------ timing


def time_rows(rows, runs):
    """({(row name, threads): median ms}, (1-min load before, after)) of every timed row at
    1 and 2 threads, interleaved in one run."""
    runners = {}
    for name, kind, data, _ in rows:
        if kind == "size":  # kept for its size only
            continue
        for threads in (1, 2):
            runners[(name, threads)] = (TFLiteRunner if kind == "tflite" else OnnxRunner)(
                data, threads)
    load_before = os.getloadavg()[0]
    ms = medians_ms(runners, runs)
    return ms, (load_before, os.getloadavg()[0])


# ------------------------------------------------------------------ tables


class Report(list):
    """The printed lines, kept for docs/benchmarks.md."""

    def emit(self, text=""):
        print(text)
        self.append(text)


def latency_table(report, size, runs, info, ms, loads):
    """The latency table; returns {tflite row: graph_facts}."""
    report.emit(f"\nLatency at {size}x{size}, median of {runs} interleaved runs "
                f"(LiteRT + XNNPACK; ONNX Runtime CPU); {cpu_description()}, 1-min load average "
                f"{loads[0]:.1f} before timing, {loads[1]:.1f} after (2-thread figures need "
                "idle cores)")
    report.emit("| model | MB | G-MAC | ms 1 thr | ms 2 thr | 2-thr speed-up | ms/G-MAC (1 thr) "
                "| XNNPACK partitions |")
    report.emit("|---|---|---|---|---|---|---|---|")
    facts = {}
    for name, (kind, data, gmacs) in info.items():
        if kind == "size":
            continue
        parts = ""
        if kind == "tflite":
            facts[name] = graph_facts(data)
            parts = str(facts[name][0])
        one, two = ms[(name, 1)], ms[(name, 2)]
        report.emit(f"| {name} | {len(data) / 1e6:.2f} | {gmacs:.3f} | {one:.2f} | {two:.2f} "
                    f"| {one / two:.2f}x | {one / gmacs:.1f} | {parts} |")
    return facts


def ratio_pairs(variants, onnx):
    """[(label, int8 row, float32 row)] of the INT8/float32 ratio table."""
    pairs = []
    for v in variants:
        pairs += [(f"{v} tflite {graph}", f"{v} tflite {graph}", f"{v} tflite float32")
                  for graph in GRAPHS]
        pairs.append((f"{v} plain (before)", f"{v} plain int8", f"{v} plain float32"))
        if onnx:
            pairs += [(f"{v} onnx", f"{v} onnx int8", f"{v} onnx float32"),
                      (f"{v} onnx .ort", f"{v} onnx int8 .ort", f"{v} onnx float32")]
    pairs.append(("mobilenet_v2", "mobilenet_v2 int8", "mobilenet_v2 float32"))
    if onnx:
        pairs += [(f"mobilenet_v2 onnx {kind}", f"mobilenet_v2 onnx int8 ({kind})",
                   "mobilenet_v2 onnx float32") for kind in ("S8S8, default", "U8S8")]
    return pairs


def ratio_table(report, pairs, ms):
    """The INT8/float32 ratio table; returns {label: (1-thread ratio, 2-thread ratio)}."""
    report.emit("\nINT8 / float32 latency ratios")
    report.emit("| pair | 1 thread | 2 threads |")
    report.emit("|---|---|---|")
    ratio = {}
    for label, q, f in pairs:
        ratio[label] = tuple(ms[(q, t)] / ms[(f, t)] for t in (1, 2))
        report.emit(f"| {label} | {ratio[label][0]:.2f} | {ratio[label][1]:.2f} |")
    return ratio


def agreement_table(report, agreed):
    report.emit(f"\nAgreement with the float Keras model ({HELD_OUT} held-out photo crops; "
                "fixture-style random weights, [fixture]: the tiny_moat0_224 checkpoint "
                "fixture's)")
    report.emit("| model | SQNR dB | top-1 agreement |")
    report.emit("|---|---|---|")
    for name, (sqnr, top1) in agreed.items():
        report.emit(f"| {name} | {sqnr:.2f} | {top1:.2f} |")


def op_lists(report, variants, facts):
    for variant in variants:
        for graph in GRAPHS:
            name = f"{variant} tflite {graph}"
            report.emit(f"\n{name}: ops by type (delegated to XNNPACK / total)")
            report.emit(", ".join(f"{op} {d}/{n}" for op, (n, d) in facts[name][1].items()))


# ------------------------------------------------------------------ targets


def tflite_int8_checks(v, graph, ms, ratio, agreed, info):
    """[(target, value, shown, names)] of TFLITE_INT8_TARGETS for one INT8 graph of v."""
    q, mnet_q = f"{v} tflite {graph}", "mobilenet_v2 int8"
    mine, mnet = ratio[q][0], ratio["mobilenet_v2"][0]
    per_mac = (ms[(q, 1)] / info[q][2]) / (ms[(mnet_q, 1)] / info[mnet_q][2])
    speedup = ms[(q, 1)] / ms[(q, 2)]
    mine_db, before_db = agreed[q][0], agreed[f"{v} plain int8"][0]
    found = {
        "int8-ratio": (mine, f"{mine:.2f}"),
        "int8-ratio-stretch": (mine, f"{mine:.2f}"),
        "int8-ms-per-gmac": (per_mac, f"{per_mac:.2f}x"),
        "int8-thread-scaling": (speedup, f"{speedup:.2f}x"),
        "int8-agreement": (mine_db - before_db, f"{mine_db:.2f} vs {before_db:.2f} dB"),
    }
    fixture = [agreed.get(f"{v} [fixture] {kind}", (None,))[0]
               for kind in (f"tflite {graph}", "plain int8")]
    if None not in fixture:
        found["int8-agreement-fixture"] = (fixture[0] - fixture[1],
                                           f"{fixture[0]:.2f} vs {fixture[1]:.2f} dB")
    return [(t, *found[t.key], {"reference": mnet}) for t in TFLITE_INT8_TARGETS
            if t.key in found]


def float32_check(v, ms):
    """(target, value, shown, names) of FLOAT32_TARGET for the export's float32 of v."""
    f, plain_f = f"{v} tflite float32", f"{v} plain float32"
    slower = ms[(f, 1)] / ms[(plain_f, 1)]
    return (FLOAT32_TARGET, slower, f"{ms[(f, 1)]:.2f} vs {ms[(plain_f, 1)]:.2f} ms "
            f"({slower:.3f}x); sizes: python bench/export_size.py", {})


def onnx_speed_checks(v, ms, ratio):
    """[(target, value, shown, names)] of the ONNX latency targets of v (1 thread)."""
    mine, mnet = ratio[f"{v} onnx"][0], ratio["mobilenet_v2 onnx S8S8, default"][0]
    ratio_target = target_named("ort-int8-ratio")
    mine_f, litert_f = ms[(f"{v} onnx float32", 1)], ms[(f"{v} tflite float32", 1)]
    ort_ms, onnx_ms = ms[(f"{v} onnx int8 .ort", 1)], ms[(f"{v} onnx int8", 1)]
    return [
        (ratio_target, mine, f"{mine:.2f} (bound {ratio_target.limit(mnet):.2f}; MobileNetV2 "
         f"U8S8 {ratio['mobilenet_v2 onnx U8S8'][0]:.2f})", {"reference": mnet}),
        (target_named("ort-float32-vs-litert"), mine_f / litert_f,
         f"{mine_f:.2f} vs {litert_f:.2f} ms ({mine_f / litert_f:.2f}x)", {}),
        (target_named("ort-format-speed"), ort_ms / onnx_ms,
         f"{ort_ms:.2f} vs {onnx_ms:.2f} ms ({ort_ms / onnx_ms:.3f}x)", {}),
    ]


def onnx_file_checks(v, agreed, info):
    """[(target, value, shown, names)] of the ONNX agreement and .ort size targets of v."""
    from tinymoat.export.onnx import ORT_SIZE_LIMIT
    checks = []
    for tag, weights in (("", "random weights"), (" [fixture]", "checkpoint fixture")):
        onnx_q, tflite_q = agreed.get(f"{v}{tag} onnx int8"), agreed.get(f"{v}{tag} tflite int8")
        if onnx_q and tflite_q:
            checks.append((target_named("onnx-int8-agreement"), tflite_q[0] - onnx_q[0],
                           f"{onnx_q[0]:.2f} vs {tflite_q[0]:.2f} dB", {"weights": weights}))
    # the bound is the exporter's own (tinymoat.export.onnx.ORT_SIZE_LIMIT)
    size_target = dataclasses.replace(target_named("ort-format-size"), bound=ORT_SIZE_LIMIT)
    for precision in ("int8", "float32"):
        onnx_bytes = len(info[f"{v} onnx {precision}"][1])
        ort_bytes = len(info[f"{v} onnx {precision} .ort"][1])
        checks.append((size_target, ort_bytes / onnx_bytes,
                       f"{ort_bytes / 1e6:.3f} vs {onnx_bytes / 1e6:.3f} MB "
                       f"({ort_bytes / onnx_bytes:.3f}x)", {"precision": precision}))
    return checks


def emit_checks(report, checks, indent="    "):
    for target, value, shown, names in checks:
        ok = target.met(value, names.get("reference"))
        report.emit(f"{indent}{verdict(ok)}  {target.key}: {target.describe(**names)}: {shown}")


def check_targets(report, v, onnx, ms, ratio, agreed, info):
    """Prints every target of the first variant v with PASS/FAIL."""
    report.emit("\nTFLite INT8 targets, for the default full-INT8 graph, --mixed and --gelu tanh")
    for graph in GRAPHS:
        report.emit(f"  {v} tflite {graph}:")
        emit_checks(report, tflite_int8_checks(v, graph, ms, ratio, agreed, info))
    report.emit(f"  {v} tflite float32:")
    emit_checks(report, [float32_check(v, ms)])
    if onnx:
        report.emit(f"\nONNX targets, {v} (ONNX Runtime CPU EP, 1 thread)")
        emit_checks(report, onnx_speed_checks(v, ms, ratio) + onnx_file_checks(v, agreed, info))


def verdict(ok):
    return "PASS" if ok else "FAIL"


# ------------------------------------------------------------------ the run


def build_all(variants, size, calibration_count, onnx):
    """(rows, agreement) of every variant (one child process each) and MobileNetV2."""
    rows, agreed = [], {}
    for variant in variants:
        with tempfile.TemporaryDirectory() as folder:
            built, found = build_in_subprocess(variant, size, calibration_count, onnx, folder)
            rows += built
            agreed.update(found)
    return rows + mobilenet_rows(size, onnx), agreed


def report_tables(args, variants, rows, agreed, ms, loads) -> Report:
    """Prints (and returns) the tables and the targets of one timed run."""
    report = Report()
    info = {name: (kind, data, gmacs) for name, kind, data, gmacs in rows}
    facts = latency_table(report, args.size, args.runs, info, ms, loads)
    ratio = ratio_table(report, ratio_pairs(variants, args.onnx), ms)
    agreement_table(report, agreed)
    op_lists(report, variants, facts)
    check_targets(report, variants[0], args.onnx, ms, ratio, agreed, info)
    return report


def record(argv, report):
    command = "python bench/int8_speed.py " + " ".join(argv if argv is not None
                                                        else sys.argv[1:])
    path = write_section("int8-speed", "INT8 vs float32 latency and agreement "
                         "(bench/int8_speed.py)", command.strip(), "\n".join(report))
    print(f"\nwrote {os.path.relpath(path)}")


def parse_args(argv):
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
    if not args.build_one and args.runs < 30:
        parser.error("--runs must be at least 30")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from tinymoat.export import progress
    progress.ENABLED = False
    if args.build_one:
        write_rows(*tiny_moat_rows(args.build_one, args.size, args.calibration, args.onnx),
                   args.out)
        return 0
    variants = args.variants.split(",")
    start = time.perf_counter()
    rows, agreed = build_all(variants, args.size, args.calibration, args.onnx)
    print(f"built {len(rows)} models in {time.perf_counter() - start:.0f} s", flush=True)
    ms, loads = time_rows(rows, args.runs)
    report = report_tables(args, variants, rows, agreed, ms, loads)
    if args.record:
        record(argv, report)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
