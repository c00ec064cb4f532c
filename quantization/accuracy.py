"""Top-1/top-5 accuracy of float Keras models and INT8 TFLite models on held-out images.

Images are read with `tinymoat.data.decode` (shorter side to the input size,
centre crop; unreadable files skipped and counted), normalised with the
model's normalisation and streamed in batches, so every model sees exactly
the same pixels and memory stays flat on large sets. INT8 models run in the
LiteRT interpreter, the runtime phones use, not in a float simulation.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Iterator, List, Sequence, Tuple

import numpy as np

from tinymoat.data import iter_decoded
from tinymoat.preprocess import preprocess

from .tensors import dequantize, quantize

Predictor = Callable[[np.ndarray], np.ndarray]   # normalised NHWC float32 -> logits


def topk_hits(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Whether each label is among the k largest logits of its row."""
    logits = np.asarray(logits)
    k = min(k, logits.shape[-1])
    top = np.argpartition(-logits, k - 1, axis=-1)[:, :k]
    return (top == np.asarray(labels)[:, None]).any(axis=-1)


@dataclasses.dataclass
class Tally:
    top1: int = 0
    top5: int = 0
    images: int = 0

    def add(self, logits: np.ndarray, labels: np.ndarray) -> None:
        self.top1 += int(topk_hits(logits, labels, 1).sum())
        self.top5 += int(topk_hits(logits, labels, 5).sum())
        self.images += len(labels)

    def as_dict(self) -> Dict:
        n = max(self.images, 1)
        return {"top1": self.top1 / n, "top5": self.top5 / n, "correct_top1": self.top1,
                "correct_top5": self.top5, "images": self.images}


def keras_predictor(model, batch_size: int = 32) -> Predictor:
    def predict(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(model(x[i:i + batch_size], training=False))
                               for i in range(0, len(x), batch_size)])
    return predict


class TFLitePredictor:
    """Runs a TFLite flatbuffer in LiteRT; (de)quantizes int8/uint8 input and output.

    A dynamic batch dimension is resized to each call's batch; a fixed one is
    fed in slices (the last padded by repeating its final image).
    """

    def __init__(self, model_bytes: bytes, num_threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter
        self.interpreter = Interpreter(model_content=model_bytes, num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        signature = self.input.get("shape_signature", self.input["shape"])
        self.dynamic_batch = int(signature[0]) == -1
        self.batch = None if self.dynamic_batch else int(self.input["shape"][0])
        if not self.dynamic_batch:
            self.interpreter.allocate_tensors()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        step = len(x) if self.dynamic_batch else self.batch
        return np.concatenate([self._run(x[i:i + step]) for i in range(0, len(x), step)])

    def _run(self, x: np.ndarray) -> np.ndarray:
        real = len(x)
        if self.dynamic_batch and self.batch != real:
            self.interpreter.resize_tensor_input(self.input["index"], [real, *x.shape[1:]])
            self.interpreter.allocate_tensors()
            self.batch = real
        elif not self.dynamic_batch and real < self.batch:
            x = np.concatenate([x, np.repeat(x[-1:], self.batch - real, axis=0)])
        self.interpreter.set_tensor(self.input["index"], quantize(x, self.input))
        self.interpreter.invoke()
        out = dequantize(self.interpreter.get_tensor(self.output["index"]), self.output)
        return out[:real]


def image_batches(files: Sequence[str], labels: Sequence[int], size: Tuple[int, int],
                  batch_size: int, skipped: List[str]) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """(uint8 pixels, labels) batches; unreadable files go to `skipped`."""
    pixels, kept = [], []
    for image, label in iter_decoded(files, labels, size, skipped):
        pixels.append(image)
        kept.append(label)
        if len(pixels) == batch_size:
            yield np.stack(pixels), np.asarray(kept, np.int64)
            pixels, kept = [], []
    if pixels:
        yield np.stack(pixels), np.asarray(kept, np.int64)


def evaluate(predictors: Dict[str, Predictor], files: Sequence[str], labels: Sequence[int],
             size: Tuple[int, int], normalization: str, batch_size: int = 32,
             progress: bool = False) -> Tuple[Dict[str, Tally], List[str]]:
    """Accuracy of every predictor on the same decoded images; also the skipped files."""
    tallies = {name: Tally() for name in predictors}
    skipped: List[str] = []
    batches = image_batches(files, labels, size, batch_size, skipped)
    if progress:
        from tqdm import tqdm
        batches = tqdm(batches, total=-(-len(files) // batch_size), desc="evaluating",
                       unit="batch", leave=False)
    for pixels, batch_labels in batches:
        x = preprocess(pixels, normalization)
        for name, predict in predictors.items():
            tallies[name].add(predict(x), batch_labels)
    return tallies, skipped
