"""Associated files, packed the way TFLite's metadata populator packs them.

The model FlatBuffer is followed by an ordinary ZIP archive. Its offsets are
counted from the start of the whole file (what Python's zipfile writes when it
appends to a file), so the file is both a valid .tflite and a valid .zip to
`zipfile`, `unzip`, Java's ZipFile and minizip. Entries are STORED: the Task
Library and MediaPipe hand out pointers into the model instead of inflating,
and reject compressed entries.

Output is deterministic: fixed timestamp, fixed attributes and creator system,
entries in the order given.
"""

from __future__ import annotations

import io
import zipfile

_EPOCH = (1980, 1, 1, 0, 0, 0)   # the earliest time a ZIP header can hold
_UNIX = 3
_MODE = 0o100644                  # regular file, rw-r--r--


def append_zip(prefix: bytes, files: list[tuple[str, bytes]]) -> bytes:
    """`prefix` followed by a stored ZIP archive of `files` ((name, data) pairs)."""
    names = [name for name, _ in files]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate associated file names: {names}")
    out = io.BytesIO()
    out.write(prefix)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in files:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = _UNIX
            info.external_attr = _MODE << 16
            zf.writestr(info, bytes(data))
    return out.getvalue()


def read_zip(model_bytes: bytes) -> dict[str, bytes]:
    """Files packed after the model, in archive order; {} when there is no archive."""
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(model_bytes))) as zf:
            return {info.filename: zf.read(info) for info in zf.infolist()}
    except zipfile.BadZipFile:
        return {}


def labels_text(labels: list[str]) -> bytes:
    """One label per line, each line ending in a newline, UTF-8."""
    return "".join(f"{label}\n" for label in labels).encode("utf-8")


def parse_labels(data: bytes) -> list[str]:
    """Inverse of labels_text; like the Task Library, a final empty line is not a label."""
    lines = data.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]
