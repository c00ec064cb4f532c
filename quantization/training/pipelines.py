"""Training and validation batches from a source, as tf.data pipelines.

Augmentation is stateless: an image's crop and flip depend only on (seed,
epoch, position), and for folders the order of an epoch only on (seed, epoch),
so a resumed run sees exactly the images an uninterrupted run would have seen.
TFRecord and TFDS sources stream through a seeded shuffle buffer instead.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from tinymoat._keras import tf
from tinymoat.preprocess import preprocess

from .sources import AUTOTUNE, Source, decode_image


@dataclasses.dataclass(frozen=True)
class Augment:
    """Training augmentation: Inception-style random resized crop and horizontal flip."""
    enabled: bool = True
    min_area: float = 0.08
    flip: bool = True


def center_crop(image, size) -> tf.Tensor:
    """Shorter side to `size`, then the central crop (as `tinymoat.data.resize_and_crop`)."""
    height, width = size
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.maximum(height / shape[0], width / shape[1])
    new = tf.maximum(tf.cast(tf.round(shape * scale), tf.int32), [height, width])
    resized = tf.image.resize(image, new, method="bilinear", antialias=True)
    top = (new[0] - height) // 2
    left = (new[1] - width) // 2
    crop = resized[top:top + height, left:left + width, :]
    crop.set_shape([height, width, 3])
    return crop


def random_crop_flip(image, size, seed, augment: Augment) -> tf.Tensor:
    """A random crop of min_area..100% of the image, aspect 3/4..4/3, resized; maybe flipped."""
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=crop_seed,
        min_object_covered=augment.min_area, aspect_ratio_range=(3 / 4, 4 / 3),
        area_range=(augment.min_area, 1.0), max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    crop = tf.slice(image, begin, extent)
    out = tf.image.resize(crop, size, method="bilinear", antialias=True)
    if augment.flip:
        out = tf.image.stateless_random_flip_left_right(out, flip_seed)
    return out


def _finish(pixels, label, num_classes, normalization):
    images = preprocess(tf.cast(pixels, tf.float32), normalization)
    return images, tf.one_hot(label, num_classes)


def training_dataset(source: Source, *, size, batch_size: int, steps: int, first_epoch: int,
                     epochs: int, seed: int, augment: Augment, num_classes: int,
                     normalization: str) -> tf.data.Dataset:
    """Batches for epochs first_epoch..epochs-1: `steps` full batches each, in epoch order."""
    size = tuple(size)

    def one_epoch(epoch):
        return source.records(epoch, seed).take(steps * batch_size).enumerate().map(
            lambda position, item: (epoch, position, item[0], item[1]))

    def prepare(epoch, position, key, label):
        image = key if source.decoded else decode_image(key)
        if augment.enabled:
            element_seed = tf.stack([tf.cast(seed, tf.int64) * 100_003 + epoch, position])
            pixels = random_crop_flip(image, size, element_seed, augment)
        else:
            pixels = center_crop(image, size)
        return _finish(pixels, label, num_classes, normalization)

    dataset = tf.data.Dataset.range(first_epoch, epochs).flat_map(one_epoch)
    dataset = dataset.map(prepare, num_parallel_calls=AUTOTUNE)
    return _options(dataset.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE))


def evaluation_dataset(source: Source, *, size, batch_size: int, num_classes: int,
                       normalization: str, label_map: Optional[Sequence[int]] = None):
    """All usable examples in order, centre-cropped; labels mapped through label_map."""
    size = tuple(size)
    mapping = tf.constant(label_map if label_map is not None else range(num_classes), tf.int64)

    def prepare(key, label):
        image = key if source.decoded else decode_image(key)
        return _finish(center_crop(image, size), tf.gather(mapping, label), num_classes,
                       normalization)

    dataset = source.ordered().map(prepare, num_parallel_calls=AUTOTUNE)
    return _options(dataset.batch(batch_size).prefetch(AUTOTUNE))


def _options(dataset):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = \
        tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
