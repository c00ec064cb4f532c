"""Where training and validation images come from, checked before training starts.

Sources: a class-per-subfolder folder (listed by `tinymoat.data.scan_folder`),
TFRecord files (`image/encoded`, `image/class/label`, optional
`image/class/text`), or `tfds:NAME[:SPLIT]` when tensorflow_datasets is
installed (it is not a dependency of tinymoat).

Before training, every image is decoded once, in parallel, by the same
TensorFlow decoder the pipeline uses; those that fail are skipped with a
warning and counted. The check applies the rule every stage shares (see
`tinymoat.data`): only regular files are read, so a named pipe cannot block
it, and only images whose header claims at most `MAX_IMAGE_PIXELS` pixels are
decoded, so a decompression bomb never is. Checking up front keeps the number
of steps per epoch exact and means a bad file can never stop training halfway. The result is
cached in the run folder (keyed by names, sizes and modification times), so
--resume does not decode everything again.

The batches made from a source are pipelines.py's.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tinymoat import data as imagedata
from tinymoat._keras import tf
from tinymoat.fileio import write_text

from .errors import TrainError

AUTOTUNE = tf.data.AUTOTUNE
TFRECORD_PATTERNS = ("*.tfrecord", "*.tfrecord-*", "*.tfrecords", "*-of-*")
SHUFFLE_BUFFER = 10_000
CHECK_FILE = "data_check.json"
# Part of every check-cache key: a check made under another rule is made again.
_RULE = f"regular files, header <= {imagedata.MAX_IMAGE_PIXELS} pixels"


@dataclasses.dataclass
class Source:
    """Usable examples of one data argument, and how to read them."""
    spec: str
    kind: str                      # "folder", "tfrecord" or "tfds"
    classes: List[str]
    count: int
    skipped: List[str]             # unreadable examples (paths or record numbers)
    records: Callable              # (epoch, seed) -> Dataset of (key, label)
    ordered: Callable              # () -> Dataset of (key, label), fixed order
    decoded: bool = False          # keys are decoded images (TFDS), not file bytes/paths
    labels: Optional[np.ndarray] = None


def decode_image(data) -> tf.Tensor:
    """uint8 RGB [H, W, 3] of encoded bytes (JPEG, PNG, GIF's first frame, BMP, WebP)."""
    image = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return image


def open_source(spec: str, cache: Optional["CheckCache"] = None, what: str = "--data",
                require_all_classes: bool = True) -> Source:
    """The Source for a --data/--val-data argument; unusable data is a TrainError.

    require_all_classes: an empty class folder is an error (training data) or
    just has no images (validation data).
    """
    spec = os.fspath(spec)
    try:
        if spec.startswith("tfds:"):
            return _tfds_source(spec)
        files = _tfrecord_files(spec)
        if files:
            return _tfrecord_source(spec, files, cache)
        if os.path.isdir(spec):
            return _folder_source(spec, cache, require_all_classes)
    except imagedata.DataError as exc:
        raise TrainError(f"{what}: {exc}") from None
    raise TrainError(f"{what}: {spec} is neither an image folder (ROOT/<class>/<image>), "
                     "TFRecord files nor tfds:NAME[:SPLIT]")


def _tfrecord_files(spec: str) -> List[str]:
    if os.path.isdir(spec):
        if any(os.path.isdir(os.path.join(spec, d)) for d in os.listdir(spec)):
            return []
        found = set()
        for pattern in TFRECORD_PATTERNS:
            found.update(glob.glob(os.path.join(spec, pattern)))
        return sorted(found)
    if os.path.isfile(spec):
        return [spec]
    return sorted(f for f in glob.glob(spec) if os.path.isfile(f))


# --- class-per-subfolder folders -------------------------------------------------------

def _folder_source(root: str, cache: Optional["CheckCache"], require_all_classes: bool) -> Source:
    folder = imagedata.scan_folder(root, require_all_classes=require_all_classes)
    stamp = [(f, *_stat(f)) for f in folder.files]
    bad = _cached(cache, ("folder", _RULE, stamp),
                  lambda: {"bad": _undecodable_files(folder.files)})["bad"]
    keep = np.setdiff1d(np.arange(len(folder.files)), np.asarray(bad, np.int64))
    if not len(keep):
        raise TrainError(f"{root}: none of its {len(folder.files)} images can be decoded")
    paths = [folder.files[i] for i in keep]
    labels = np.asarray([folder.labels[i] for i in keep], np.int64)
    return _in_memory_source(root, "folder", folder.classes, paths, labels,
                             [folder.files[i] for i in bad])


def _stat(path) -> Tuple[Optional[int], Optional[int]]:
    try:
        info = os.stat(path)
    except OSError:  # a dangling link or a symlink loop: unreadable, found by the check
        return None, None
    return info.st_size, info.st_mtime_ns


def _undecodable_files(files: Sequence[str]) -> List[int]:
    """Positions of the files that are not regular files or fail `_undecodable`.

    Only regular files reach tf.io.read_file, which would block on a named
    pipe and read a device file without end.
    """
    regular = [i for i, f in enumerate(files) if imagedata.is_regular_file(f)]
    irregular = sorted(set(range(len(files))) - set(regular))
    if not regular:
        return irregular
    keys = tf.data.Dataset.from_tensor_slices([files[i] for i in regular]).map(tf.io.read_file)
    return sorted(irregular + [regular[i] for i in _undecodable(keys, len(regular))])


def _undecodable(encoded: tf.data.Dataset, count: int) -> List[int]:
    """Positions of the elements `checked_decode` fails on (decoding in parallel)."""
    ok = (encoded.enumerate()
          .map(lambda i, data: (i, tf.shape(checked_decode(data))[0]),
               num_parallel_calls=AUTOTUNE, deterministic=False)
          .ignore_errors())
    good = np.zeros(count, bool)
    for index, _ in _progress(ok.as_numpy_iterator(), count, "checking images"):
        good[index] = True
    return np.flatnonzero(~good).tolist()


def checked_decode(data) -> tf.Tensor:
    """`decode_image` of bytes that pass the header rule of `tinymoat.data.image_header_ok`
    (at most MAX_IMAGE_PIXELS pixels); other bytes are an error, never decoded."""
    ok = tf.numpy_function(imagedata.image_header_ok, [data], tf.bool, stateful=False)
    with tf.control_dependencies([tf.debugging.Assert(ok, ["image refused by its header"])]):
        return decode_image(tf.identity(data))


def _progress(items, total, desc):
    from tqdm import tqdm
    return tqdm(items, total=total, desc=desc, unit="img", leave=False,
                disable=total < 2000, mininterval=2)


def _in_memory_source(spec, kind, classes, keys, labels, skipped) -> Source:
    """A source whose keys (file paths) all fit in one tensor: exact per-epoch shuffles."""
    keys_t = tf.constant(keys)
    labels_t = tf.constant(labels, tf.int64)
    count = len(keys)

    def records(epoch, seed):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(count, dtype=tf.int64), seed=_pair(seed, epoch))
        return tf.data.Dataset.from_tensor_slices(order).map(
            lambda i: (tf.io.read_file(tf.gather(keys_t, i)), tf.gather(labels_t, i)))

    def ordered():
        return tf.data.Dataset.from_tensor_slices((keys_t, labels_t)).map(
            lambda path, label: (tf.io.read_file(path), label))

    return Source(spec, kind, list(classes), count, list(skipped), records, ordered,
                  labels=np.asarray(labels))


def _pair(seed, epoch):
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])


# --- TFRecord files --------------------------------------------------------------------

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    "image/class/text": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


def _parse(record):
    example = tf.io.parse_single_example(record, _FEATURES)
    return example["image/encoded"], example["image/class/label"], example["image/class/text"]


def _tfrecord_source(spec: str, files: List[str], cache: Optional["CheckCache"]) -> Source:
    stamp = [(f, *_stat(f)) for f in files]
    found = _cached(cache, ("tfrecord", _RULE, stamp), lambda: _scan_records(files))
    bad, labels, names = found["bad"], np.asarray(found["labels"], np.int64), found["names"]
    if not len(labels):
        raise TrainError(f"{spec}: no decodable records with image/encoded and "
                         "image/class/label")
    if labels.min() < 0:
        raise TrainError(f"{spec}: negative class labels (first {labels.min()})")
    classes = [names.get(str(i)) or f"class_{i}" for i in range(int(labels.max()) + 1)]
    bad_t = tf.constant(np.asarray(bad, np.int64).reshape(-1))
    buffer = min(SHUFFLE_BUFFER, len(labels))

    def good_records():
        return (tf.data.TFRecordDataset(files).enumerate()
                .filter(lambda i, _: tf.logical_not(tf.reduce_any(tf.equal(i, bad_t))))
                .map(lambda _, record: _parse(record)[:2]))

    def records(epoch, seed):
        return _reshuffled(good_records(), buffer, seed)

    return Source(spec, "tfrecord", classes, len(labels), [f"record {i}" for i in bad],
                  records, good_records, labels=labels)


def _reshuffled(dataset, buffer: int, seed: int):
    """A streamed source's epoch order: a seeded shuffle buffer, reshuffled every epoch.

    The seed must be a Python int (a tensor seed breaks under a global seed
    of 0). Unlike folders, a resumed run restarts this sequence of orders.
    """
    return dataset.shuffle(buffer, seed=int(seed), reshuffle_each_iteration=True)


def _scan_records(files: List[str]) -> Dict:
    """Labels and names of all records and the positions of undecodable ones."""
    parsed = tf.data.TFRecordDataset(files).map(_parse)
    count = sum(1 for _ in tf.data.TFRecordDataset(files))
    bad = _undecodable(parsed.map(lambda data, label, text: data), count)
    labels, names = [], {}
    bad_set = set(bad)
    for index, (label, text) in enumerate(parsed.map(lambda d, l, t: (l, t)).as_numpy_iterator()):
        if index in bad_set:
            continue
        labels.append(int(label))
        if text and str(int(label)) not in names:
            names[str(int(label))] = text.decode("utf-8", "replace")
    return {"bad": bad, "labels": labels, "names": names}


# --- TensorFlow Datasets ---------------------------------------------------------------

def _tfds_source(spec: str) -> Source:
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise TrainError(f"{spec}: tensorflow_datasets is not installed (pip install "
                         "tensorflow-datasets; tinymoat does not depend on it)") from None
    _, name, *rest = spec.split(":")
    split = rest[0] if rest else "train"
    try:
        dataset, info = tfds.load(name, split=split, as_supervised=True, with_info=True)
    except Exception as exc:  # noqa: BLE001  (tfds raises many kinds; all mean "cannot load")
        raise TrainError(f"{spec}: {str(exc).strip().splitlines()[0]}") from None
    classes = list(info.features["label"].names)
    count = info.splits[split].num_examples
    buffer = min(SHUFFLE_BUFFER, count)

    def records(epoch, seed):
        return _reshuffled(dataset, buffer, seed)

    return Source(spec, "tfds", classes, count, [], records, lambda: dataset, decoded=True)


# --- caching the decode check ----------------------------------------------------------

class CheckCache:
    """Results of decode checks keyed by a digest of the files' names, sizes and mtimes.

    Lives in RUN_DIR/data_check.json; `save` is called once the run folder exists,
    so a run that fails its checks leaves nothing behind.
    """

    def __init__(self, path: Optional[str] = None):
        self.path, self.entries, self.dirty = path, {}, False
        if path and os.path.isfile(path):
            try:
                with open(path) as f:
                    self.entries = json.load(f)
            except (OSError, ValueError):
                self.entries = {}

    def get(self, key, compute: Callable[[], Dict]) -> Dict:
        digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()
        if digest not in self.entries:
            self.entries[digest] = compute()
            self.dirty = True
        return self.entries[digest]

    def save(self, path: Optional[str] = None) -> None:
        path = path or self.path
        if path and self.dirty:
            write_text(path, json.dumps(self.entries))
            self.dirty = False


def _cached(cache: Optional[CheckCache], key, compute: Callable[[], Dict]) -> Dict:
    return cache.get(key, compute) if cache is not None else compute()


def label_map(train_classes: Sequence[str], val: Source) -> List[int]:
    """Validation labels in the training label space (classes matched by name)."""
    position = {name: i for i, name in enumerate(train_classes)}
    unknown = [name for name in val.classes if name not in position]
    if unknown and val.kind == "folder":
        raise TrainError(f"--val-data {val.spec}: class(es) not in the training data: "
                         f"{', '.join(unknown[:5])}" + (" ..." if len(unknown) > 5 else ""))
    if val.kind != "folder":
        if len(val.classes) > len(train_classes):
            raise TrainError(f"--val-data {val.spec} has labels up to {len(val.classes) - 1} "
                             f"but the training data only {len(train_classes)} classes")
        return list(range(len(val.classes)))
    return [position[name] for name in val.classes]
