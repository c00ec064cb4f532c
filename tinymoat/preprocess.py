"""Input normalisation of the released checkpoints."""

from __future__ import annotations

import numpy as np

# Per-channel mean and standard deviation in [0, 255] units; x_norm = (x - mean) / std.
NORMALIZATION = {
    # tiny-MOAT, MOAT-0/1 (ImageNet-1K)
    "imagenet": ((0.485 * 255, 0.456 * 255, 0.406 * 255),
                 (0.229 * 255, 0.224 * 255, 0.225 * 255)),
    # MOAT-2/3/4 (ImageNet-22K)
    "inception": ((127.5, 127.5, 127.5), (127.5, 127.5, 127.5)),
}


def mean_std(normalization: str):
    if normalization not in NORMALIZATION:
        raise ValueError(f"unknown normalization {normalization!r}; choose one of "
                         f"{', '.join(NORMALIZATION)}")
    mean, std = NORMALIZATION[normalization]
    return np.asarray(mean, np.float32), np.asarray(std, np.float32)


def preprocess(images, normalization: str = "imagenet"):
    """Normalises RGB images with values in [0, 255] (NHWC or HWC).

    NumPy arrays come back as float32 NumPy arrays, tensors as float32 tensors.
    """
    mean, std = mean_std(normalization)
    if isinstance(images, np.ndarray) or not hasattr(images, "dtype"):
        images = np.asarray(images, np.float32)
        if images.shape[-1] != 3:
            raise ValueError(f"expected RGB images with 3 channels last, got shape {images.shape}")
        return (images - mean) / std
    from ._keras import tf
    images = tf.cast(images, tf.float32)
    return (images - mean) / std
