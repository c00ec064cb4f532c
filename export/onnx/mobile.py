"""ONNX Runtime Mobile: the ORT-format file and the mobile-usability verdict.

`to_ort` writes what `python -m onnxruntime.tools.convert_onnx_models_to_ort`
writes in its fixed style for ARM (every optimization but NCHWc, which is
x86-only), with three departures:
* the relative bias is stored compact: constant folding evaluates each
  Gather(table, index) into the dense [heads, S, S] tensor, which makes the
  tool's .ort bigger than the .onnx; after optimizing, those tensors are
  compacted again in the form that is cheap to expand at run time
  (`convert.compact_relative_bias(separable=True)`: the .onnx's form copies
  one element per index, slow when run as stored), while every other
  constant stays folded (an .ort without constant folding runs slower than
  the .onnx);
* the graph is optimized and saved as ONNX first, and that file converted
  with optimizations off: ORT's serializer keeps every value the
  optimizer made and then removed, which on an INT8 graph (its QDQ pairs
  fused into QLinear kernels) adds dead value records;
* inside the .ort, values are named by number and nodes not at all
  (`short_names`; the graph's input and output keep theirs): the format
  stores each name several times and a type record per value.
The .ort so holds the graph the CPU execution provider runs (QLinearConv,
fused GELU, ...) and loads without optimizing again; the .onnx stays the file
to read and debug.

`usability` is `python -m onnxruntime.tools.check_onnx_model_mobile_usability`'s
analysis (partitions of the NNAPI and Core ML execution providers over the
graph optimized at the basic level) as a small dict, without its log output.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pathlib
import tempfile
from typing import Dict

import numpy as np

from ..target import ExportError
from .canonical import INDEX_PREFIX
from .convert import compact_relative_bias

# Layout-dependent and x86-only (convert_onnx_models_to_ort drops it for ARM too).
DISABLED_OPTIMIZERS = ("NchwcTransformer",)
ORT_STYLE = ("fixed: optimized for the CPU execution provider, without NCHWc; relative bias "
             "kept as tables")
EXECUTION_PROVIDERS = {"nnapi": "NNAPI", "coreml_neuralnetwork": "CoreML NeuralNetwork",
                       "coreml_mlprogram": "CoreML MLProgram"}


def _save_optimized(source: str, target: str, level, model_format: str, disabled=()) -> None:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.optimized_model_filepath = target
    options.log_severity_level = 3
    options.add_session_config_entry("session.save_model_format", model_format)
    ort.InferenceSession(source, options, providers=["CPUExecutionProvider"],
                         disabled_optimizers=list(disabled) or None)


def to_ort(onnx_path: str, ort_path: str) -> None:
    """Writes the ORT-format model of onnx_path to ort_path (see the module docstring)."""
    import onnx
    import onnxruntime as ort
    with tempfile.TemporaryDirectory(prefix="tinymoat-ort-") as folder:
        optimized = os.path.join(folder, "optimized.onnx")
        try:
            _save_optimized(str(onnx_path), optimized, ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                            "ONNX", DISABLED_OPTIMIZERS)
            model = onnx.load(optimized)
            _dense_bias(model)  # what constant folding left as Gather(table, index)
            compact_relative_bias(model, separable=True)
            short_names(model)
            onnx.save(model, optimized)
            _save_optimized(optimized, str(ort_path), ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                            "ORT")
        except Exception as exc:  # ORT raises its own exception types with a message
            raise ExportError(f"ort: ONNX Runtime could not convert the model: "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                              ) from exc


def _dense_bias(model) -> None:
    """Replaces each Gather(table, relative-position index) of constants by its dense value."""
    from onnx import numpy_helper
    graph = model.graph
    constants = {i.name: i for i in graph.initializer}
    folded, nodes = [], []
    for node in graph.node:
        if (node.op_type == "Gather" and all(n in constants for n in node.input)
                and node.input[1].startswith(INDEX_PREFIX)):
            table, index = (numpy_helper.to_array(constants[n]) for n in node.input)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            folded.append(numpy_helper.from_array(np.take(table, index, axis=axis),
                                                  node.output[0]))
        else:
            nodes.append(node)
    if not folded:
        return
    read = {name for node in nodes for name in node.input}
    initializers = [i for i in graph.initializer if i.name in read] + folded
    del graph.node[:], graph.initializer[:]
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)


def short_names(model) -> None:
    """Names every value but the graph's inputs and outputs by a hexadecimal number in
    order of appearance, and removes node names, value_info and doc strings."""
    graph = model.graph
    fixed = {v.name for v in list(graph.input) + list(graph.output)}
    names: Dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in fixed:
            return name
        return names.setdefault(name, format(len(names), "x"))

    for tensor in graph.initializer:
        tensor.name = short(tensor.name)
        tensor.doc_string = ""
    for node in graph.node:
        if any(a.g.node or a.graphs for a in node.attribute):
            raise ExportError("ort: graphs with subgraphs are not supported")
        node.name, node.doc_string = "", ""
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]
    del graph.value_info[:]


def usability(onnx_path: str) -> Dict:
    """{execution provider: {partitions, nodes, verdict, unsupported_ops}, recommendation}.

    verdict is ORT's: YES (one partition over > 75 % of the nodes), MAYBE, NO
    (more than two partitions: copying between them costs more than the
    accelerator saves).
    """
    from onnxruntime.tools.mobile_helpers import usability_checker as checker
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model
    checks = {
        "nnapi": lambda m: checker.check_nnapi_partitions(m, True),
        "coreml_neuralnetwork": lambda m: checker.check_coreml_partitions(
            m, True, "coreml_supported_neuralnetwork_ops.md"),
        "coreml_mlprogram": lambda m: checker.check_coreml_partitions(
            m, True, "coreml_supported_mlprogram_ops.md"),
    }
    quiet = logging.getLogger("onnxruntime.tools")
    with tempfile.TemporaryDirectory(prefix="tinymoat-mobile-") as folder, \
            contextlib.redirect_stdout(io.StringIO()), _silenced(quiet):
        optimized = pathlib.Path(folder) / "basic.onnx"
        optimize_model(pathlib.Path(onnx_path), optimized)  # as the tool does (basic level)
        model = ModelProtoWithShapeInfo(optimized).model_with_shape_info
        found = {}
        for name, check in checks.items():
            info = check(model)
            found[name] = {
                "partitions": info.num_partitions,
                "nodes": f"{info.num_supported_nodes}/{info.num_nodes}",
                "verdict": info.suitability().name,
                "unsupported_ops": sorted(op.split(":")[-1] for op in info.unsupported_ops),
            }
    worth = [EXECUTION_PROVIDERS[name] for name, info in found.items() if info["verdict"] != "NO"]
    found["recommendation"] = (
        f"compare the {' / '.join(worth)} execution provider with the CPU one" if worth else
        "CPU execution provider (NNAPI and Core ML would split the graph)")
    return found


@contextlib.contextmanager
def _silenced(*loggers):
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
