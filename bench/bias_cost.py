"""What the compact relative bias costs at run time (export/tflite/compact.py).

    python bench/bias_cost.py [--variant tiny-moat-0] [--size 224] [--runs 300]
                              [--precision float32]

Builds the export's TFLite file once, derives the previous compact form from
it, and times all rows interleaved, round by round (LiteRT + XNNPACK, 1 and
2 threads, medians; bench/interleaved.py):

  compact (the export)  each bias a GATHER from its table by a flat index,
                        all at the start of the graph: TFLite computes them
                        once, when the tensors are allocated
  copied per inference  the previous form: per bias GATHER, GATHER, RESHAPE
                        right before its ADD; XNNPACK takes the RESHAPE and
                        copies the bias on every invoke
  dense constants       the export without the compaction pass
  plain conversion      the straightforward conversion (float32 only)

and prints each row's size, XNNPACK partitions and bias ops. Every row must
compute the export's outputs bit for bit; the benchmark checks that first.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from int8_speed import graph_facts, plain_tflite  # noqa: E402
from interleaved import TFLiteRunner, litert_interpreter, medians_ms  # noqa: E402
from weights import fixture_style_weights  # noqa: E402


def export(model, variant, size, precision, compact=True):
    from tinymoat import data
    from tinymoat.export.tflite import compact as tflite_compact
    from tinymoat.export.target import ExportJob
    from tinymoat.export.tflite import TFLiteTarget
    job = ExportJob(model=model, variant=variant, input_size=(size, size),
                    labels=[f"c{i}" for i in range(int(model.output.shape[-1]))],
                    normalization=model.moat_config.normalization,
                    calibration=data.sample_photo_crops(size, count=8).pixels,
                    input_type="int8", output_type="int8")
    original = tflite_compact.compact_relative_bias
    if not compact:
        tflite_compact.compact_relative_bias = lambda data, notes=None: data
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.tflite")
            TFLiteTarget().export(job, precision, path)
            with open(path, "rb") as f:
                return f.read()
    finally:
        tflite_compact.compact_relative_bias = original


def copied_per_inference(data: bytes) -> bytes:
    """The export with each bias GATHER replaced by the previous form, right before its ADD."""
    from tinymoat.export.tflite import compact as tc
    from tinymoat.quantization.tflite.graph import TFLiteGraph, op_name
    from tinymoat.quantization.tflite.flatbuffer import fb, load, serialize
    model = load(data)
    graph = TFLiteGraph(model)
    tensors = graph.sub.tensors
    name = lambda i: tensors[int(i)].name.decode()  # noqa: E731
    int32, forms, indices = fb.TensorType.INT32, {}, {}
    for op in graph.sub.operators:
        if op_name(model, op) != "GATHER" or not name(op.inputs[0]).endswith("/table"):
            continue
        table, bias = int(op.inputs[0]), int(op.outputs[0])
        height, width = (int(v) for v in name(op.inputs[1]).split("_")[-1].split("x"))
        if (height, width) not in indices:
            indices[height, width] = (
                graph.constant(f"stack_{height}x{width}", tc.stack_index(height, width), int32),
                graph.constant(f"rows_{height}x{width}", tc.row_index(height, width), int32))
        stack, rows = indices[height, width]
        lead = [int(d) for d in tensors[table].shape[:-1]]
        axis, kind, quant = len(lead), tensors[bias].type, tensors[bias].quantization
        dtype = tc._NUMPY[kind]
        stacked = graph.tensor(f"{name(bias)}/stacked",
                               lead + [(2 * height - 1) * width, width], kind, quant)
        both = graph.tensor(f"{name(bias)}/ijxy", lead + [height, width, height, width],
                            kind, quant)
        forms[bias] = (op, [tc._gather(graph, dtype, table, stack, stacked, axis),
                            tc._gather(graph, dtype, stacked, rows, both, axis),
                            tc._reshape(graph, dtype, both, bias, f"{name(bias)}/shape")])
    dropped = {id(op) for op, _ in forms.values()}
    placed = []
    for op in graph.sub.operators:
        if id(op) in dropped:
            continue
        for i in op.inputs:
            placed += forms.pop(int(i), (None, []))[1]
        placed.append(op)
    graph.sub.operators = placed
    return serialize(model)


def outputs(data: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = litert_interpreter()(model_content=data, num_threads=1)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], x.astype(detail["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="tiny-moat-0")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--precision", choices=("float32", "int8"), default="float32")
    args = p.parse_args(argv)
    import tinymoat
    model = fixture_style_weights(tinymoat.build_model(args.variant, args.size, batch_size=1))
    compact = export(model, args.variant, args.size, args.precision)
    rows = {"compact (the export)": compact,
            "copied per inference": copied_per_inference(compact),
            "dense constants": export(model, args.variant, args.size, args.precision,
                                      compact=False)}
    x = np.random.default_rng(0).uniform(-1, 1, (1, args.size, args.size, 3))
    if args.precision == "int8":
        x = np.clip(np.round(x * 100), -128, 127)
    want = outputs(compact, x)
    for name, data in rows.items():
        if not np.array_equal(outputs(data, x), want):
            sys.exit(f"bench/bias_cost.py: {name} does not compute the export's outputs")
    if args.precision == "float32":
        rows["plain conversion"] = plain_tflite(model)
    runners = {(name, threads): TFLiteRunner(data, threads)
               for name, data in rows.items() for threads in (1, 2)}
    ms = medians_ms(runners, args.runs)
    base = ms["compact (the export)", 1]
    print(f"{args.variant} {args.precision} at {args.size}: the relative bias held three ways, "
          f"median of {args.runs} interleaved rounds (LiteRT + XNNPACK)")
    print("| row | MB | XNNPACK partitions | GATHER / RESHAPE ops | ms 1 thr | ms 2 thr "
          "| 1 thr vs export |")
    print("|---|---|---|---|---|---|---|")
    for name, data in rows.items():
        partitions, ops = graph_facts(data)
        gathers, reshapes = ops.get("GATHER", (0, 0))[0], ops.get("RESHAPE", (0, 0))[0]
        print(f"| {name} | {len(data) / 1e6:.2f} | {partitions} | {gathers} / {reshapes} "
              f"| {ms[name, 1]:.2f} | {ms[name, 2]:.2f} | {ms[name, 1] / base:.3f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
