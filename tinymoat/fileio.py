"""Writing files so that a reader never sees half of one."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it to `path` on success.

    On any exception the temporary file is removed and `path` is untouched.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def sha256(path) -> str:
    """SHA-256 of a file; of a folder (e.g. .mlpackage), of its sorted
    sha256sum-style lines '<sha256 of file>  <relative path>'."""
    if os.path.isdir(path):
        lines = []
        for root, _dirs, files in os.walk(path):
            for name in files:
                full = os.path.join(root, name)
                rel = os.path.relpath(full, path).replace(os.sep, "/")
                lines.append(f"{sha256(full)}  {rel}\n")
        return hashlib.sha256("".join(sorted(lines)).encode()).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def size_bytes(path) -> int:
    """Size of a file, or the total of the files in a folder."""
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(root, name))
                   for root, _dirs, files in os.walk(path) for name in files)
    return os.path.getsize(path)
