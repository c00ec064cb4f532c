"""A canonical form of an ONNX graph, so that the same inputs give the same bytes.

tf2onnx numbers generated names with a process-wide counter, orders some
nodes by hash order and keeps or removes identity Reshapes by hash order too.
"""

from __future__ import annotations

import collections
import hashlib
import heapq
from typing import Dict

from ..target import ExportError

INDEX_PREFIX = "relative_position_index_"   # shared Gather indices keep their names


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def canonicalize(model) -> None:
    """Names every value by what computes it and sorts nodes and initializers by name.

    tf2onnx's names are not a function of the model: generated names carry a
    process-wide counter, and when it merges duplicate nodes or constants
    (q, k and v reshape the same tensor; every GELU uses 0.5) which TensorFlow
    name survives depends on hash order. So an initializer is named by its
    bytes (`const_<hash>`) and a node output by its op type, attributes and
    canonical inputs (`Conv_<hash>`); graph inputs and outputs keep their
    names. Identity Reshapes go first (`drop_identity_reshapes`). Identical
    computations collapse into one node. The node order is a topological order
    with ties broken by name.
    """
    from onnx import numpy_helper
    graph = model.graph
    if any(a.g.node or a.graphs for n in graph.node for a in n.attribute):
        return  # subgraphs would need scoped renaming; this model family has none
    drop_identity_reshapes(model)
    fixed = {v.name for v in list(graph.input) + list(graph.output)}
    names: Dict[str, str] = {}
    inits = {}
    for init in graph.initializer:
        if init.name not in fixed and not init.name.startswith(INDEX_PREFIX):
            array = numpy_helper.to_array(init)
            names[init.name] = "const_" + _digest(init.data_type, array.shape, array.tobytes())
            init.name = names[init.name]
        inits.setdefault(init.name, init)  # identical content under one name: keep one
    kept = {}
    for node in graph.node:  # ONNX nodes are stored in a topological order
        node.input[:] = [names.get(n, n) for n in node.input]
        attrs = b"".join(a.SerializeToString(deterministic=True)
                         for a in sorted(node.attribute, key=lambda a: a.name))
        key = _digest(node.op_type, node.domain, attrs, *node.input)
        for index, out in enumerate(node.output):
            if out and out not in fixed:
                names[out] = f"{node.op_type}_{key}" + (f"_{index}" if index else "")
        node.output[:] = [names.get(o, o) for o in node.output]
        node.name = node.output[0]
        kept.setdefault(node.name, node)   # the same computation twice: keep the first
    values = {}
    for value in graph.value_info:
        value.name = names.get(value.name, value.name)
        values.setdefault(value.name, value)
    _sort_graph(graph, list(kept.values()), list(inits.values()), list(values.values()))


def drop_identity_reshapes(model) -> int:
    """Removes Reshape nodes whose output has their input's static shape.

    Whether tf2onnx's optimizer removes such a Reshape (e.g. after a keepdims
    ReduceMean) depends on hash order: the micro model converted under four
    PYTHONHASHSEEDs had 20, 21 or 22 Reshapes and nothing else different.
    Initializers no node reads any more go too. Returns the number removed.
    """
    import onnx
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model).graph
    shapes = {}
    for value in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        dims = value.type.tensor_type.shape.dim
        if all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    fixed = {v.name for v in graph.output}
    source: Dict[str, str] = {}
    nodes = []
    for node in graph.node:  # topological order: a dropped output is renamed before use
        node.input[:] = [source.get(n, n) for n in node.input]
        out = node.output[0] if node.output else ""
        if (node.op_type == "Reshape" and out not in fixed and node.input[0] in shapes
                and shapes.get(out) == shapes[node.input[0]]):
            source[out] = node.input[0]
            continue
        nodes.append(node)
    if not source:
        return 0
    read = {name for node in nodes for name in node.input}
    initializers = [i for i in graph.initializer if i.name in read or i.name in fixed]
    values = [v for v in graph.value_info if v.name not in source]
    _set_graph(graph, nodes, initializers, values)
    return len(source)


def _sort_graph(graph, nodes, initializers, value_info) -> None:
    produced = {out: node for node in nodes for out in node.output}
    waiting = {id(node): sum(1 for n in set(node.input) if n in produced) for node in nodes}
    users = collections.defaultdict(list)
    for node in nodes:
        for name in set(node.input):
            if name in produced:
                users[name].append(node)
    ready = [(node.name, id(node), node) for node in nodes if waiting[id(node)] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, node = heapq.heappop(ready)
        order.append(node)
        for out in node.output:
            for user in users.get(out, []):
                waiting[id(user)] -= 1
                if waiting[id(user)] == 0:
                    heapq.heappush(ready, (user.name, id(user), user))
    if len(order) != len(nodes):
        raise ExportError("onnx: the converted graph has a cycle")
    _set_graph(graph, order, sorted(initializers, key=lambda i: i.name),
               sorted(value_info, key=lambda v: v.name))


def _set_graph(graph, nodes, initializers, value_info) -> None:
    """Replaces the graph's nodes, initializers and value_info with copies of these."""
    for field, items in ((graph.node, nodes), (graph.initializer, initializers),
                         (graph.value_info, value_info)):
        copies = [type(item)() for item in items]
        for copy, item in zip(copies, items):
            copy.CopyFrom(item)
        del field[:]
        field.extend(copies)
