"""Reading class-per-subfolder image folders into raw RGB pixel arrays.

Every stage reads images the same way (calibration, validation, training), so
the rules live here: classes are the sorted subfolder names, unreadable images
are skipped with a warning and counted, never a crash in the middle of a run.
Pixels stay raw RGB in [0, 255]; normalisation belongs to the model's input
convention (`tinymoat.preprocess`).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class DataError(ValueError):
    """An image folder that cannot be used. The message is one line."""


@dataclasses.dataclass
class ImageFolder:
    root: str
    classes: List[str]
    files: List[str]
    labels: List[int]

    def __len__(self):
        return len(self.files)


def scan_folder(root, require_all_classes: bool = True) -> ImageFolder:
    """Lists images of a class-per-subfolder folder (labels = sorted subfolder order)."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise DataError(f"image folder not found: {root}")
    classes = sorted(d for d in os.listdir(root)
                     if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class subfolders (expected ROOT/<class>/<image>)")
    files, labels, empty = [], [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        found = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not found:
            empty.append(name)
        files += [os.path.join(folder, f) for f in found]
        labels += [label] * len(found)
    if not files:
        raise DataError(f"{root} contains no images ({', '.join(IMAGE_EXTENSIONS)})")
    if empty and require_all_classes:
        raise DataError(f"{root}: class folder(s) without images: {', '.join(empty)}")
    return ImageFolder(root, classes, files, labels)


def decode(path, size: Tuple[int, int]) -> Optional[np.ndarray]:
    """Loads an image as uint8 RGB [H, W, 3]: shorter side to size, centre crop.

    Returns None for a file that cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            return resize_and_crop(image, size)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def resize_and_crop(image, size: Tuple[int, int]) -> np.ndarray:
    from PIL import Image
    height, width = size
    scale = max(height / image.height, width / image.width)
    resized = image.resize((max(width, round(image.width * scale)),
                            max(height, round(image.height * scale))), Image.BILINEAR)
    left = (resized.width - width) // 2
    top = (resized.height - height) // 2
    return np.asarray(resized.crop((left, top, left + width, top + height)), np.uint8)


@dataclasses.dataclass
class LoadedImages:
    pixels: np.ndarray          # uint8 [N, H, W, 3]
    labels: np.ndarray          # int64 [N]
    classes: List[str]
    skipped: List[str]          # files that could not be decoded
    source: str


def load_folder(root, size, limit: Optional[int] = None, seed: int = 0,
                require_all_classes: bool = False) -> LoadedImages:
    """Decodes (up to `limit`, a seeded class-balanced sample) images of a folder."""
    folder = scan_folder(root, require_all_classes=require_all_classes)
    order = np.arange(len(folder))
    if limit is not None and limit < len(folder):
        order = balanced_sample(folder.labels, limit, seed)
    return decode_files([folder.files[i] for i in order], [folder.labels[i] for i in order],
                        folder.classes, size, source=folder.root)


def iter_decoded(files: Sequence[str], labels: Sequence[int], size, skipped: List[str]):
    """(uint8 image, label) for every readable file; unreadable paths go to `skipped`."""
    from .config import as_hw
    size = as_hw(size)
    for path, label in zip(files, labels):
        image = decode(path, size)
        if image is None:
            skipped.append(path)
        else:
            yield image, label


def decode_files(files: Sequence[str], labels: Sequence[int], classes, size, source="") -> LoadedImages:
    skipped: List[str] = []
    pairs = list(iter_decoded(files, labels, size, skipped))
    pixels, kept = [p for p, _ in pairs], [k for _, k in pairs]
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unreadable image(s), e.g. {skipped[0]}",
                      stacklevel=2)
    if not pixels:
        raise DataError(f"no readable images in {source or 'the given files'} "
                        f"({len(skipped)} unreadable)")
    return LoadedImages(np.stack(pixels), np.asarray(kept, np.int64), list(classes), skipped,
                        source)


def balanced_sample(labels: Sequence[int], limit: int, seed: int) -> np.ndarray:
    """Indices of `limit` items drawn round-robin over classes, in a seeded order."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    picked = []
    depth = 0
    while len(picked) < limit:
        for items in per_class:
            if depth < len(items) and len(picked) < limit:
                picked.append(items[depth])
        depth += 1
    return np.sort(np.asarray(picked))


def sample_photo_crops(size, count: int = 32, seed: int = 0) -> LoadedImages:
    """Calibration images when the user gives none: seeded random crops and flips of
    the photograph that ships with matplotlib (sample_data/grace_hopper.jpg)."""
    import matplotlib
    from PIL import Image

    from .config import as_hw
    height, width = as_hw(size)
    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    rng = np.random.default_rng(seed)
    with Image.open(path) as photo:
        photo = photo.convert("RGB")
        crops = []
        for _ in range(count):
            side = int(rng.uniform(0.35, 1.0) * min(photo.size))
            left = int(rng.integers(0, photo.width - side + 1))
            top = int(rng.integers(0, photo.height - side + 1))
            crop = photo.crop((left, top, left + side, top + side))
            if rng.random() < 0.5:
                crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
            crops.append(resize_and_crop(crop, (height, width)))
    return LoadedImages(np.stack(crops), np.full(count, -1, np.int64), [], [],
                        f"{count} random crops of matplotlib's sample photo grace_hopper.jpg")
