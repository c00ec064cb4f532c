"""tf2onnx conversion of the deploy graph, with fixed I/O names and compact relative bias."""

from __future__ import annotations

import collections
import copy
from typing import Dict

import numpy as np

from ..relative_bias import factor, flat_index, relative_indices, worth_it
from ..target import ExportError, ExportJob
from .canonical import INDEX_PREFIX, canonicalize

# 18 converts and runs too (tf2onnx 1.17, ORT 1.31) and changes nothing for this model but
# GlobalAveragePool -> ReduceMean; 17 keeps older (mobile) runtimes able to load the file.
OPSET = 17
INPUT, OUTPUT = "image", "logits"
PROBABILITIES = "probabilities"   # the output instead of OUTPUT with --outputs probabilities


def float_model(job: ExportJob, notes: Dict, gelu: str = "erf"):
    """The tf2onnx graph of the float deploy graph with fixed I/O names, compact
    relative bias, GELU in the form ONNX Runtime fuses, and canonical names.

    gelu "erf" is the exact model (the float artifact); "sigmoid" is the form
    the INT8 graph quantizes, as the full-integer TFLite does.
    """
    import tf2onnx
    from tinymoat._keras import tf
    from tinymoat.quantization import deploy_model
    height, width = job.input_size
    spec = (tf.TensorSpec((1, height, width, 3), tf.float32, name=INPUT),)
    try:
        model, _ = tf2onnx.convert.from_keras(deploy_model(job.model, gelu=gelu),
                                              input_signature=spec, opset=OPSET)
    except Exception as exc:  # tf2onnx raises plain exceptions for unsupported ops
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExportError(f"onnx: tf2onnx could not convert the model: {reason}") from exc
    if len(model.graph.output) != 1:
        raise ExportError(f"onnx: expected one output (logits), got {len(model.graph.output)}")
    _rename_value(model.graph, model.graph.output[0].name, OUTPUT)
    replaced, saved = compact_relative_bias(model)
    if replaced:
        notes["relative_bias"] = (f"{replaced} dense bias constants stored as tables "
                                  f"({saved / 1e6:.2f} MB saved)")
    fusable_gelu(model)
    canonicalize(model)
    return model


def fusable_gelu(model) -> int:
    """Writes each erf GELU as ONNX Runtime's optimizer recognises it; returns how many.

    tf2onnx gives 0.5 * x * (1 + erf(x * (1/sqrt 2))) with the 1 as a [1, 1, 1, 1]
    constant. ORT fuses GELU into one kernel only for erf(x / sqrt 2) with a
    scalar 1 (its GeluFusion), which on tiny-moat-0 saves about a third of the
    float32 time (five elementwise passes become one). x / sqrt(2) and
    x * (1 / sqrt 2) differ by at most one float32 rounding.
    """
    from onnx import numpy_helper
    graph = model.graph
    constants = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    readers = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            readers[name].append(node)

    def scalar(name):
        tensor = constants.get(name)
        values = None if tensor is None else numpy_helper.to_array(tensor)
        return None if values is None or values.size != 1 else float(values.reshape(()))

    def add_scalar(value: float) -> str:
        name = f"gelu_scalar_{value:.9g}"
        if name not in constants:
            constants[name] = numpy_helper.from_array(np.array(value, np.float32), name)
            graph.initializer.append(constants[name])
        return name

    rewritten = 0
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        scale = producer.get(erf.input[0])
        if scale is None or scale.op_type != "Mul" or len(readers[scale.output[0]]) != 1:
            continue
        factors = [(i, scalar(name)) for i, name in enumerate(scale.input)]
        found = [i for i, value in factors if value is not None
                 and abs(value - 0.5 ** 0.5) < 1e-7]
        if len(found) != 1:
            continue
        x = scale.input[1 - found[0]]
        scale.op_type = "Div"
        scale.input[:] = [x, add_scalar(2.0 ** 0.5)]
        for add in readers[erf.output[0]]:
            if add.op_type == "Add":
                add.input[:] = [add_scalar(1.0) if scalar(n) == 1.0 else n for n in add.input]
        rewritten += 1
    read = {name for node in graph.node for name in node.input}
    unused = [i for i in graph.initializer if i.name not in read]
    for tensor in unused:
        graph.initializer.remove(tensor)
    return rewritten


def pixel_input(model, mean, std) -> None:
    """Makes the graph take uint8 RGB pixels NHWC as INPUT, normalising them inside.

    Cast, Sub(mean), Div(std) in float32, as tinymoat.preprocess computes them, so
    the graph gives the float-input graph's outputs exactly (an INT8 graph's
    first QuantizeLinear then sees the same values). A uint8 tensor has no
    per-channel scale, so the normalisation cannot be folded into the input's
    quantization, and folding it into the first convolution would change the
    zero padding at the image border.
    """
    from onnx import TensorProto, helper, numpy_helper
    graph = model.graph
    if len(graph.input) != 1 or graph.input[0].name != INPUT:
        raise ExportError(f"onnx: expected one input named {INPUT!r}")
    normalised = INPUT + "_normalised"
    _rename_value(graph, INPUT, normalised, inputs_only=True)
    tensor = graph.input[0].type.tensor_type
    if tensor.elem_type != TensorProto.FLOAT:
        raise ExportError("onnx: pixel input needs a float32 model input")
    tensor.elem_type = TensorProto.UINT8
    graph.initializer.extend([
        numpy_helper.from_array(np.asarray(mean, np.float32).reshape(3), INPUT + "_mean"),
        numpy_helper.from_array(np.asarray(std, np.float32).reshape(3), INPUT + "_std")])
    nodes = [helper.make_node("Cast", [INPUT], [INPUT + "_float"], to=TensorProto.FLOAT),
             helper.make_node("Sub", [INPUT + "_float", INPUT + "_mean"], [INPUT + "_centred"]),
             helper.make_node("Div", [INPUT + "_centred", INPUT + "_std"], [normalised])]
    nodes += list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    canonicalize(model)


def probabilities_output(model) -> None:
    """Ends the graph in a float Softmax over the classes, output PROBABILITIES
    (`tinymoat-export --outputs probabilities`); the logits stay an inner value."""
    from onnx import helper
    graph = model.graph
    if len(graph.output) != 1 or graph.output[0].name != OUTPUT:
        raise ExportError(f"onnx: expected one output named {OUTPUT!r}")
    probabilities = copy.deepcopy(graph.output[0])
    probabilities.name = PROBABILITIES
    graph.node.append(helper.make_node("Softmax", [OUTPUT], [PROBABILITIES], axis=-1,
                                       name="probabilities"))
    del graph.output[:]
    graph.output.append(probabilities)
    canonicalize(model)


def _rename_value(graph, old: str, new: str, inputs_only: bool = False) -> None:
    if old == new:
        return
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        if not inputs_only:
            node.output[:] = [new if n == old else n for n in node.output]
    if inputs_only:
        return
    for value in list(graph.output) + list(graph.value_info):
        if value.name == old:
            value.name = new


# ------------------------------------------------------- relative-bias tables

def compact_relative_bias(model, separable: bool = False):
    """Replaces dense float32 [..., S, S] constants that only feed Adds by a compact table.

    Returns (constants replaced, bytes saved). The default form is one
    Gather(flat table, int32 [S, S] index), shared index initializers per
    window size: the form the .onnx keeps, which ONNX Runtime folds into the
    dense tensor when it loads the file. `separable` is the form for a file
    that runs as stored (the .ort): ORT's Gather copies one element per index
    (slow for [S, S] indices run on every invoke), so the table,
    stored transposed [..., 2W-1, 2H-1], is first expanded by columns into
    the small [..., W, 2H-1, W] (Gather of rows of 2H-1 values by an int32
    [W, W] index, Transpose), whose rows of W values one Gather by an int32
    [H, W, H] index copies into [..., H, W, H, W] = [..., S, S]. Each step
    copies values, so the result is the dense tensor bit for bit.
    """
    from onnx import TensorProto, numpy_helper
    graph = model.graph
    consumers = collections.defaultdict(set)
    for node in graph.node:
        for name in node.input:
            consumers[name].add(node.op_type)
    outputs = {o.name for o in graph.output}
    tables = _BiasTables()
    keep, replaced = [], 0
    for init in graph.initializer:
        dims = tuple(init.dims)
        found = None
        if (init.data_type == TensorProto.FLOAT and len(dims) >= 3 and dims[-1] == dims[-2] > 1
                and consumers.get(init.name) == {"Add"} and init.name not in outputs):
            values = numpy_helper.to_array(init)
            found = factor(values)
        if found is None or not worth_it(values, found[0]):
            keep.append(init)
            continue
        replaced += 1
        tables.saved += values.nbytes - found[0].nbytes
        (tables.separable if separable else tables.flat)(init.name, values.shape, *found)
    if replaced:
        del graph.initializer[:]
        graph.initializer.extend(keep + tables.initializers)
        nodes = tables.nodes + list(graph.node)
        del graph.node[:]
        graph.node.extend(nodes)
    return replaced, tables.saved


class _BiasTables:
    """The initializers and nodes that rebuild dense bias constants from their tables, with
    index initializers shared per window size, and the bytes saved so far."""

    def __init__(self):
        self.initializers, self.nodes, self.saved = [], [], 0
        self._indices: Dict[object, str] = {}

    def index(self, key, values: np.ndarray) -> str:
        from onnx import numpy_helper
        if key not in self._indices:
            self._indices[key] = f"{INDEX_PREFIX}{key}"
            self.initializers.append(numpy_helper.from_array(values, self._indices[key]))
            self.saved -= values.nbytes
        return self._indices[key]

    def flat(self, name, shape, table, height, width) -> None:
        """Gather(flat table [..., (2H-1)(2W-1)], int32 [S, S] index) -> `name`."""
        from onnx import helper, numpy_helper
        table = table.reshape(table.shape[:-2] + (-1,))
        self.initializers.append(numpy_helper.from_array(table, name + "_table"))
        self.nodes.append(helper.make_node(
            "Gather", [name + "_table", self.index(f"{height}x{width}",
                                                   flat_index(height, width))],
            [name], name=name + "_gather", axis=table.ndim - 1))

    def separable(self, name, shape, table, height, width) -> None:
        """Columns first, then rows of W values (compact_relative_bias) -> `name`."""
        from onnx import helper, numpy_helper
        lead = table.ndim - 2
        rows = height * 2 - 1
        window = (np.arange(width)[None, :, None] * rows                      # [i, j, x]
                  + relative_indices(height)[:, None, :]).astype(np.int32)
        shapes = {"_by_column": np.array(list(table.shape[:-2]) + [width * rows, width]),
                  "_shape": np.array(shape)}
        self.initializers.append(numpy_helper.from_array(
            np.ascontiguousarray(np.swapaxes(table, -1, -2)), name + "_table"))  # [.., 2W-1, 2H-1]
        for suffix, dims in shapes.items():
            self.initializers.append(numpy_helper.from_array(dims.astype(np.int64), name + suffix))
            self.saved -= dims.size * 8
        self.nodes += [  # [.., c, r] -> [.., j, y, r] -> [.., j, r, y] -> [.., (j r), y]
            helper.make_node("Gather", [name + "_table",
                                        self.index(width, relative_indices(width))],
                             [name + "_columns"], name=name + "_columns", axis=lead),
            helper.make_node("Transpose", [name + "_columns"], [name + "_column_major"],
                             name=name + "_column_major",
                             perm=list(range(lead)) + [lead, lead + 2, lead + 1]),
            helper.make_node("Reshape", [name + "_column_major", name + "_by_column"],
                             [name + "_windows"], name=name + "_windows"),
            # [.., i, j, x, y]: rows of W values, then [.., S, S]
            helper.make_node("Gather", [name + "_windows",
                                        self.index(f"{height}x{width}w", window)],
                             [name + "_tokens"], name=name + "_tokens", axis=lead),
            helper.make_node("Reshape", [name + "_tokens", name + "_shape"], [name],
                             name=name + "_reshape")]
