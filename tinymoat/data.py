"""Reading class-per-subfolder image folders into raw RGB pixel arrays.

Every stage reads images the same way (calibration, validation, training), so
the rules live here: classes are the sorted subfolder names, unreadable images
are skipped with a warning and counted, never a crash in the middle of a run.
Pixels stay raw RGB in [0, 255]; normalisation belongs to the model's input
convention (`tinymoat.preprocess`).

Image files are hostile input. Only regular files are opened (a named pipe
would block forever, a device file may never end or act on being opened), and
an image whose header claims more than MAX_IMAGE_PIXELS pixels is refused
before anything is decoded (a few hundred bytes of PNG can claim terabytes).
Both count as unreadable. `open_image` and `image_header_ok` are that rule;
the training pipeline checks its files with the latter before TensorFlow
decodes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import stat
import threading
import warnings
from typing import List, Optional, Sequence, Tuple

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# Largest image (width x height, from its header) that is decoded: 2**27 pixels
# (134 M), e.g. 16384x8192 or a 108-megapixel phone photo; 384 MiB as uint8 RGB.
# Larger ones are skipped as unreadable. It replaces Pillow's own check (a
# warning above 89 M pixels, an error above 179 M), which is silenced.
MAX_IMAGE_PIXELS = 2 ** 27
_PIL_OPEN = threading.Lock()  # warnings.catch_warnings is process-wide state


class DataError(ValueError):
    """An image folder that cannot be used. The message is one line."""


class UnreadableImage(OSError):
    """An image file that is not opened or not decoded (see the module docstring)."""


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


def is_regular_file(path) -> bool:
    """Whether `path` is (a symlink to) a regular file; False for loops and dangling links."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _open_regular_file(path):
    """A binary file object of `path` if it is a regular file (after symlinks).

    stat comes first so that FIFOs and devices are never opened; the open
    does not block and fstat confirms the file is still the one checked.
    """
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UnreadableImage("not a regular file")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except UnreadableImage:
        raise
    except (OSError, ValueError) as exc:  # missing, a dangling link, a symlink loop
        raise UnreadableImage(getattr(exc, "strerror", None) or str(exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnreadableImage("not a regular file")
    return os.fdopen(fd, "rb")


@contextlib.contextmanager
def open_image(source):
    """The PIL image of a file path or encoded bytes, checked but not yet decoded.

    Raises UnreadableImage (an OSError; its message does not repeat the path)
    for anything but a regular file, an unidentifiable file, or a header
    claiming more than MAX_IMAGE_PIXELS pixels.
    """
    from PIL import Image, UnidentifiedImageError
    with contextlib.ExitStack() as stack:
        file = (io.BytesIO(source) if isinstance(source, (bytes, bytearray))
                else stack.enter_context(_open_regular_file(source)))
        try:
            with _PIL_OPEN, warnings.catch_warnings():
                # Our own limit below applies instead of Pillow's warning.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = stack.enter_context(Image.open(file))
        except Image.DecompressionBombError:  # Pillow's error limit is above ours
            raise UnreadableImage(f"its header claims more than {MAX_IMAGE_PIXELS} pixels, "
                                  "the limit") from None
        except UnidentifiedImageError:
            raise UnreadableImage("not an image format Pillow reads") from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise UnreadableImage(str(exc)) from None
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise UnreadableImage(f"its header claims {width}x{height} pixels, more than "
                                  f"{MAX_IMAGE_PIXELS}, the limit")
        yield image


def image_header_ok(source) -> bool:
    """Whether `open_image` accepts a path or encoded bytes (reads the header only)."""
    try:
        with open_image(source):
            return True
    except UnreadableImage:
        return False


def decode(path, size: Tuple[int, int]) -> Optional[np.ndarray]:
    """Loads an image as uint8 RGB [H, W, 3]: shorter side to size, centre crop.

    Returns None for a file that cannot be decoded.
    """
    from PIL import Image, UnidentifiedImageError
    try:
        with open_image(path) as image:
            image = image.convert("RGB")
            return resize_and_crop(image, size)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError):
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
