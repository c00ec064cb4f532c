"""The TFLite flatbuffer: the file format, reading ops, and the passes of the INT8 graph.

    flatbuffer   load / serialize a model, operator and tensor-type names
    graph        appending tensors and ops; replacing ops (what the passes share)
    ops          which ops a graph has and the types they compute in (float_ops)
    integer      SOFTMAX and RSQRT as int8 ops XNNPACK runs ("integer" graph)
    gelu         GELU's sigmoid form without its MUL by a constant ("integer" graph)
    islands      GELU, SOFTMAX and RSQRT in float inside the int8 graph ("mixed")

Nothing here imports TensorFlow. The function that applies the passes is
tinymoat.quantization.int8_tflite (int8_graph.py).
"""
