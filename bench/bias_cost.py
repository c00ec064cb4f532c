"""What the compact relative bias costs at run time (export/tflite_compact.py).

    python bench/bias_cost.py [--variant tiny-moat-0] [--size 224] [--runs 300]
                              [--precision float32]

Builds the export's TFLite file once and derives from it the other ways of
holding the bias, then times all rows interleaved, round by round (LiteRT +
XNNPACK, 1 and 2 threads, medians):

  compact            the export: table -> GATHER -> GATHER -> RESHAPE, each
                     expansion right before the ADD that uses it
  expansions first   the same ops, all at the start of the graph
  one flat GATHER    table -> one GATHER by a flat [S, S] index (no RESHAPE)
  dense constants    the export without the compaction pass
  plain              the straightforward conversion (float32 only)

and prints each row's size, XNNPACK partitions and bias ops with the
difference to the export. Every row must compute the export's outputs bit for
bit; the benchmark checks that before timing.
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

from int8_speed import TFLiteRunner, _litert, graph_facts, plain_tflite, time_all  # noqa: E402
from weights import fixture_style_weights  # noqa: E402


def export(model, variant, size, precision, compact=True):
    from tinymoat import data
    from tinymoat.export import tflite_compact
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


def _expansions(model):
    """{bias tensor: (table tensor, [ops])} of a compacted model, and the other ops."""
    from tinymoat.export.tflite_graph import op_name
    sub = model.subgraphs[0]
    made = {int(op.outputs[0]): op for op in sub.operators
            if op_name(model, op) in ("GATHER", "RESHAPE")}
    found, used = {}, set()
    for op in sub.operators:
        if op_name(model, op) != "RESHAPE":
            continue
        second = made.get(int(op.inputs[0]))
        first = second and made.get(int(second.inputs[0]))
        if not (second and first and op_name(model, second) == op_name(model, first)
                == "GATHER"):
            continue
        found[int(op.outputs[0])] = (int(first.inputs[0]), [first, second, op])
        used.update(id(o) for o in (first, second, op))
    rest = [op for op in sub.operators if id(op) not in used]
    return found, rest


def expansions_first(data: bytes) -> bytes:
    from tinymoat.export.tflite_metadata.tflite_model import load, serialize
    model = load(data)
    found, rest = _expansions(model)
    model.subgraphs[0].operators = [op for _, ops in found.values() for op in ops] + rest
    return serialize(model)


def one_flat_gather(data: bytes) -> bytes:
    from tinymoat.export import tflite_compact
    from tinymoat.export.relative_bias import flat_index
    from tinymoat.export.tflite_graph import TFLiteGraph
    from tinymoat.export.tflite_metadata.tflite_model import fb, load, serialize
    model = load(data)
    graph = TFLiteGraph(model)
    found, _ = _expansions(model)
    replaced, indices = {}, {}
    for bias, (table, ops) in found.items():
        height, width = (int(d) for d in graph.sub.tensors[int(ops[1].outputs[0])].shape[1:3])
        if (height, width) not in indices:
            indices[height, width] = graph.constant(f"flat_{height}x{width}",
                                                    flat_index(height, width),
                                                    fb.TensorType.INT32)
        dtype = tflite_compact._NUMPY[graph.sub.tensors[bias].type]
        replaced[id(ops[2])] = tflite_compact._gather(graph, dtype, table,
                                                      indices[height, width], bias)
    drop = {id(op) for _, ops in found.values() for op in ops[:2]}
    graph.sub.operators = [replaced.get(id(op), op) for op in graph.sub.operators
                           if id(op) not in drop]
    return serialize(model)


def outputs(data: bytes, x: np.ndarray) -> np.ndarray:
    interpreter = _litert()(model_content=data, num_threads=1)
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
            "expansions first": expansions_first(compact),
            "one flat GATHER": one_flat_gather(compact),
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
    ms = time_all(runners, args.runs)
    base = ms["compact (the export)", 1]
    print(f"{args.variant} {args.precision} at {args.size}: relative bias held four ways, "
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
