"""The export's --out folder: always one complete export, never a mix.

An export is built in a private work folder beside --out
(`.<out>.tinymoat-<pid>-<random>/new`) and put in place as a whole: when --out
does not exist by one rename, otherwise by exchanging the two folders in one
rename (Linux renameat2 RENAME_EXCHANGE). Where the kernel or file system
cannot exchange, the old folder is moved into the work folder first and the
new one renamed into place; if the process dies between those two renames,
the next export to the same --out puts the old folder back. Either way any
failure, exception or signal leaves --out as it was.

An existing --out is replaced as a whole when it holds exactly one tinymoat
export (the files its manifest.json lists, plus the reports and labels);
anything else in it is refused, so an export never deletes a user's file.

Converters write temporary files (autograph modules, saved models, Core ML
weights) to the system temp folder; while the work folder is open they go to
its `tmp/` instead, which is removed with it. Work folders of killed exports
(their process is gone) are removed by the next export to the same --out.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import shutil
import stat
import tempfile
from typing import Iterator, List, Optional

from .target import ExportError

EXPORT_DOCUMENTS = ("labels.txt", "manifest.json", "report.json", "report.md", "latency")
MANIFEST_SCHEMA = "tinymoat.export/1"
_WORK_TAG = ".tinymoat-"


def check(out: str) -> None:
    """Refuses an --out that cannot take an export, before any work."""
    out = os.path.abspath(out)
    if os.path.lexists(out) and not os.path.isdir(out):
        raise ExportError(f"--out {out} exists and is not a folder")
    parent = _existing_ancestor(os.path.dirname(out))
    if not _writable(parent):
        raise ExportError(f"--out {out}: cannot write to {parent} (read-only)")
    if os.path.isdir(out):
        if not _writable(out):
            raise ExportError(f"--out {out} is read-only")
        foreign = foreign_entries(out)
        if foreign:
            raise ExportError(
                f"--out {out} holds {len(foreign)} file(s) that are not part of a tinymoat "
                f"export (e.g. {foreign[0]}); choose a new or empty folder, or move them")


def foreign_entries(out: str) -> List[str]:
    """Entries of an existing folder that an export replacing it would lose unasked."""
    names = sorted(os.listdir(out))
    if not names:
        return []
    try:
        with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
            manifest = json.load(f)
        ours = {a["file"] for a in manifest["artifacts"]} if (
            manifest.get("schema") == MANIFEST_SCHEMA) else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        ours = None
    if ours is None:  # no manifest of ours: nothing in it is known to be an export's
        return names
    return [n for n in names if n not in ours and n not in EXPORT_DOCUMENTS]


def _existing_ancestor(path: str) -> str:
    while not os.path.isdir(path):
        path = os.path.dirname(path)
    return path


def _writable(path: str) -> bool:
    # Mode bits too: as root os.access says yes to a folder its owner made read-only.
    return os.access(path, os.W_OK | os.X_OK) and bool(os.stat(path).st_mode & stat.S_IWUSR)


def _work_prefix(out: str) -> str:
    return os.path.join(os.path.dirname(out), f".{os.path.basename(out)}{_WORK_TAG}")


def recover(out: str) -> List[str]:
    """Cleans up after exports to `out` that were killed; returns what it did, one line each."""
    out = os.path.abspath(out)
    prefix = _work_prefix(out)
    parent, start = os.path.dirname(prefix), os.path.basename(prefix)
    if not os.path.isdir(parent):
        return []
    done = []
    for name in sorted(os.listdir(parent)):
        work = os.path.join(parent, name)
        if not name.startswith(start) or not os.path.isdir(work) or _alive(work, start):
            continue
        old = os.path.join(work, "old")
        if os.path.isdir(old) and not os.path.lexists(out):
            os.rename(old, out)
            done.append(f"restored the previous export in {out} (an export was killed "
                        "while replacing it)")
        shutil.rmtree(work, ignore_errors=True)
        done.append(f"removed {work} (left by a killed export)")
    return done


def _alive(work: str, start: str) -> bool:
    pid_text = os.path.basename(work)[len(start):].partition("-")[0]
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkFolder:
    """`new` (the export being built) and `tmp` (converters' temporary files)."""

    def __init__(self, out: str):
        self.out = os.path.abspath(out)
        os.makedirs(os.path.dirname(self.out), exist_ok=True)
        self.root = tempfile.mkdtemp(prefix=f"{os.path.basename(_work_prefix(self.out))}"
                                     f"{os.getpid()}-", dir=os.path.dirname(self.out))
        self.new = os.path.join(self.root, "new")
        self.tmp = os.path.join(self.root, "tmp")
        os.mkdir(self.new)
        os.mkdir(self.tmp)

    def publish(self, exchange: bool = True) -> None:
        """Puts `new` in place of --out as a whole (see the module docstring)."""
        if not os.path.lexists(self.out):
            os.rename(self.new, self.out)
            return
        if exchange and _exchange(self.new, self.out):
            return
        os.rename(self.out, os.path.join(self.root, "old"))
        os.rename(self.new, self.out)

    def remove(self) -> None:
        """Removes the work folder; puts the old export back if publishing was cut short."""
        old = os.path.join(self.root, "old")
        if os.path.isdir(old) and not os.path.lexists(self.out):
            os.rename(old, self.out)
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def building(out: str) -> Iterator[WorkFolder]:
    """A work folder for an export to `out`, with the process's temp folder inside it.

    The work folder and everything in it are removed on leaving, however the
    block ends (an exception, KeyboardInterrupt or a SIGTERM turned into one).
    """
    work = WorkFolder(out)
    saved_tempdir, saved_env = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = os.environ["TMPDIR"] = work.tmp
    try:
        yield work
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        work.remove()


_RENAME_EXCHANGE, _AT_FDCWD = 2, -100


def _exchange(a: str, b: str) -> bool:
    """Swaps two paths in one atomic rename; False where the system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), b)


def _renameat2() -> Optional[object]:
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    function.restype = ctypes.c_int
    return function
