"""A NumPy reference executor of Core ML ML Programs, to check their numerics off macOS.

The Core ML runtime only runs on macOS, so without this a wrong layout, image
scale or bias, GELU mode or label order in an `.mlpackage` would ship
unnoticed. This executes the saved package itself (the spec's MIL program and
the weight blobs of `weights/weight.bin`), not the converter's in-memory
program, so what is checked is what ships.

Each op follows the MIL op reference (coremltools/converters/mil/mil/ops/defs).
Only the ops the tiny-MOAT exporter emits are implemented; any other op is an
`UnsupportedOp` error naming it, never a silent skip. Every op result is cast
to the dtype the spec declares for it: ops compute in float32 from their
operands, and a float16 program's results are rounded to float16 after every
op, as float16 compute would round them.

The image input is prepared as Core ML prepares an image feature: pixel values
0..255 as float32 in the feature's colour order (RGB or BGR), laid out NCHW.
The image scale and biases are ops of the program itself (`image__scaled__`,
`image__biased__`), so they run with the rest.

Reading the package is package.py's job; the op kernels are mil_ops.py's.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

import numpy as np

from .mil_ops import OPS
from .package import (Blobs, ExecutorError, UnsupportedOp, dtype_of, package_files,  # noqa: F401
                      read_spec, read_value, shape_of)

COLOR_ORDER = {"RGB": [0, 1, 2], "BGR": [2, 1, 0]}


class _Args:
    """An op's operands (inputs bound to names or values, then attributes) by name."""

    def __init__(self, op, env: Dict[str, object], blobs: Blobs):
        self.op, self.env, self.blobs = op, env, blobs

    def get(self, name: str, default=None):
        if name in self.op.inputs and self.op.inputs[name].arguments:
            values = [self._argument(a) for a in self.op.inputs[name].arguments]
            return values[0] if len(values) == 1 else values
        if name in self.op.attributes:
            return read_value(self.op.attributes[name], self.blobs)
        return default

    def __getitem__(self, name: str):
        value = self.get(name)
        if value is None:
            raise ExecutorError(f"coreml executor: {self.op.type} "
                                f"{self.op.outputs[0].name!r} has no {name!r}")
        return value

    def ints(self, name: str, default=None) -> Optional[List[int]]:
        value = self.get(name, default)
        return None if value is None else [int(v) for v in np.ravel(value)]

    def scalar(self, name: str, default=None):
        value = self.get(name, default)
        return value.item() if isinstance(value, np.ndarray) else value

    def unsupported(self, what: str) -> UnsupportedOp:
        return UnsupportedOp(f"coreml executor: {self.op.type} {self.op.outputs[0].name!r}: "
                             f"{what} is not implemented")

    def _argument(self, argument):
        if argument.WhichOneof("binding") == "value":
            return read_value(argument.value, self.blobs)
        return self.env[argument.name]


class Executor:
    """Runs the main function of one saved ML Program."""

    def __init__(self, path: str):
        spec_path, model_dir = package_files(path)
        self.spec = read_spec(spec_path)
        if not self.spec.HasField("mlProgram"):
            raise ExecutorError(f"coreml executor: {path} is not an ML Program "
                                f"({self.spec.WhichOneof('Type')})")
        self.function = self.spec.mlProgram.functions["main"]
        self.block = self.function.block_specializations[self.function.opset]
        self.blobs = Blobs(model_dir)

    def run(self, feeds: Dict[str, np.ndarray],
            observe: Optional[Callable[[str, np.ndarray], None]] = None) -> Dict[str, object]:
        """Every output of the main block for input tensors `feeds` (by input name).

        `observe(name, value)`, if given, sees every tensor an op produces (calibration
        reads activation ranges this way).
        """
        env: Dict[str, object] = {}
        for spec_input in self.function.inputs:
            env[spec_input.name] = _input(spec_input, feeds)
        for op in self.block.operations:
            _run_op(op, env, self.blobs)
            if observe is not None and op.type != "const":
                for output in op.outputs:
                    if isinstance(env[output.name], np.ndarray):
                        observe(output.name, env[output.name])
        return {name: env[name] for name in self.block.outputs}

    def image_feature(self):
        features = [f for f in self.spec.description.input if f.type.HasField("imageType")]
        if len(features) != 1:
            raise ExecutorError("coreml executor: the model needs exactly one image input, "
                                f"it has {len(features)}")
        return features[0]

    def image_tensor(self, pixels: np.ndarray) -> np.ndarray:
        """[1, C, H, W] float32 of uint8 RGB pixels [H, W, 3], as Core ML feeds an image."""
        from coremltools.proto import FeatureTypes_pb2
        feature = self.image_feature()
        image = feature.type.imageType
        layout = FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(image.colorSpace)
        if layout not in COLOR_ORDER:
            raise ExecutorError(f"coreml executor: image colour layout {layout} is not "
                                f"implemented (RGB, BGR are)")
        if pixels.shape != (image.height, image.width, 3):
            raise ExecutorError(f"coreml executor: expected pixels [{image.height}, "
                                f"{image.width}, 3], got {list(pixels.shape)}")
        channels = pixels.astype(np.float32)[..., COLOR_ORDER[layout]]
        return channels.transpose(2, 0, 1)[None]

    def predict(self, pixels: np.ndarray, output: str) -> np.ndarray:
        """Output `output` for each uint8 RGB image of pixels [N, H, W, 3], stacked."""
        name = self.image_feature().name
        return np.stack([np.asarray(self.run({name: self.image_tensor(p)})[output])
                         for p in np.asarray(pixels, np.uint8)])


def load(path: str) -> Executor:
    return Executor(path)


def _input(spec_input, feeds: Dict[str, np.ndarray]) -> np.ndarray:
    if spec_input.name not in feeds:
        raise ExecutorError(f"coreml executor: no value for input {spec_input.name!r}")
    value = np.asarray(feeds[spec_input.name], dtype_of(spec_input.type))
    shape = shape_of(spec_input.type.tensorType)
    if value.shape != shape:
        raise ExecutorError(f"coreml executor: input {spec_input.name!r} has shape "
                            f"{list(value.shape)}, the program expects {list(shape)}")
    return value


def _run_op(op, env: Dict[str, object], blobs: Blobs) -> None:
    if op.type not in OPS:
        raise UnsupportedOp(f"coreml executor: MIL op {op.type!r} (output "
                            f"{op.outputs[0].name!r}) is not implemented")
    results = OPS[op.type](_Args(op, env, blobs))
    results = results if isinstance(results, tuple) else (results,)
    for output, result in zip(op.outputs, results):
        env[output.name] = _as_declared(result, output.type)


def _as_declared(result, value_type):
    """The result in the dtype the spec declares for it (float16 programs round here)."""
    if not value_type.HasField("tensorType") or not isinstance(result, (np.ndarray, np.generic)):
        return result
    dtype = dtype_of(value_type)
    return result if dtype is str else np.asarray(result).astype(dtype, copy=False)
