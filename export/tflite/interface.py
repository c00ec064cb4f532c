"""The names an app sees: every .tflite file takes `image` and gives `probabilities`
(a float softmax at the end, `tinymoat-export --outputs probabilities`, the default)
or `logits`.

The converter names a model's tensors after whatever it converted: a Keras
model's inputs become `serving_default_image:0`, a concrete function's
`pixels`, outputs `StatefulPartitionedCall:0` or `Identity`; and only some
conversions write a SignatureDef. App code that looks tensors up by name, or
calls a signature runner, would then change with the precision. This pass
renames the first subgraph's input and output tensors and writes one
`serving_default` SignatureDef with the same names, for every precision.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from tinymoat.quantization.tflite.flatbuffer import fb, load, serialize

INPUT_NAMES = ("image",)
OUTPUT_NAMES = ("logits",)
SIGNATURE_KEY = "serving_default"


def append_softmax(model_bytes: bytes, notes: Optional[Dict] = None) -> bytes:
    """The model with a float32 SOFTMAX after its float32 output: apps that read scores
    (Android's Task Library, MediaPipe) then get probabilities. XNNPACK runs it in the
    same partition as the rest (after the int8 graph's final DEQUANTIZE)."""
    from tinymoat.quantization.tflite.graph import TFLiteGraph
    model = load(model_bytes)
    graph = TFLiteGraph(model)
    sub = graph.sub
    if len(sub.outputs) != 1:
        raise ValueError(f"expected one output, found {len(sub.outputs)}")
    logits = int(sub.outputs[0])
    tensor = sub.tensors[logits]
    if tensor.type != fb.TensorType.FLOAT32:
        raise ValueError("probabilities need float32 logits (an int8/uint8 output type "
                         "keeps logits)")
    probabilities = graph.tensor("probabilities", tensor.shape, fb.TensorType.FLOAT32)
    if tensor.shapeSignature is not None:
        sub.tensors[probabilities].shapeSignature = tensor.shapeSignature
    options = fb.SoftmaxOptionsT()
    options.beta = 1.0
    sub.operators.append(graph.op("SOFTMAX", 1, [logits], [probabilities],
                                  fb.BuiltinOptions.SoftmaxOptions, options))
    sub.outputs = np.asarray([probabilities], np.int32)
    if notes is not None:
        notes["output"] = "probabilities: a float32 SOFTMAX after the logits"
    return serialize(model)


def name_io(model_bytes: bytes, inputs: Sequence[str] = INPUT_NAMES,
            outputs: Sequence[str] = OUTPUT_NAMES, notes: Optional[Dict] = None) -> bytes:
    """The model with its inputs and outputs named `inputs`/`outputs` (in order) and one
    SignatureDef mapping those names to them."""
    model = load(model_bytes)
    if len(model.subgraphs) != 1:
        raise ValueError(f"expected one subgraph, found {len(model.subgraphs)}")
    sub = model.subgraphs[0]
    for what, indices, names in (("inputs", sub.inputs, inputs), ("outputs", sub.outputs, outputs)):
        if len(indices) != len(names):
            raise ValueError(f"the model has {len(indices)} {what}, not {len(names)}")
    signature = fb.SignatureDefT()
    signature.signatureKey = SIGNATURE_KEY
    signature.subgraphIndex = 0
    signature.inputs, signature.outputs = [], []
    for indices, names, maps in ((sub.inputs, inputs, signature.inputs),
                                 (sub.outputs, outputs, signature.outputs)):
        for index, name in zip(indices, names):
            sub.tensors[int(index)].name = name.encode()
            entry = fb.TensorMapT()
            entry.name = name
            entry.tensorIndex = int(index)
            maps.append(entry)
    model.signatureDefs = [signature]
    if notes is not None:
        notes["io_names"] = {"inputs": list(inputs), "outputs": list(outputs),
                             "signature": SIGNATURE_KEY}
    return serialize(model)
