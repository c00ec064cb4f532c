"""Finding artifacts and describing them with what the exporter wrote beside them.

`manifest.json` and `report.json` (docs/formats.md) are read when present and
tolerated when absent or unreadable: a latency measurement of a stray .tflite
is still worth having, it just has fewer labels.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

from tinymoat.fileio import sha256, size_bytes

from .errors import UsageError

RUNTIME_OF_SUFFIX = {".tflite": "litert", ".onnx": "onnxruntime", ".ort": "onnxruntime",
                     ".mlpackage": "coreml"}


@dataclasses.dataclass(frozen=True)
class ExportInfo:
    """The manifest.json / report.json entries that describe one artifact (or None)."""

    manifest: dict | None
    entry: dict | None
    report_entry: dict | None
    notes: tuple = ()


def _is_artifact(path: pathlib.Path) -> bool:
    return path.suffix in RUNTIME_OF_SUFFIX and (path.is_file() or path.suffix == ".mlpackage")


def discover(paths, runtime=None, runner=None) -> list:
    """Expands files and directories into artifact paths (sorted, no duplicates).

    A directory stands for every .tflite/.onnx/.ort/.mlpackage directly inside it.
    With `runtime`, a directory contributes only what that runtime can run and
    an explicit file it cannot run is an error (`runner` names who cannot run
    it in that message; default "--runtime RUNTIME").
    """
    runner = runner or f"--runtime {runtime}"
    found = []
    for raw in paths:
        path = pathlib.Path(raw)
        if not path.exists():
            raise UsageError(f"{raw}: no such file or directory")
        if _is_artifact(path):
            if runtime and RUNTIME_OF_SUFFIX[path.suffix] != runtime:
                raise UsageError(f"{raw}: {runner} cannot run a {path.suffix} file")
            found.append(path)
        elif path.is_dir():
            inside = sorted(p for p in path.iterdir() if _is_artifact(p)
                            and (not runtime or RUNTIME_OF_SUFFIX[p.suffix] == runtime))
            if not inside:
                kinds = ", ".join(s for s, r in RUNTIME_OF_SUFFIX.items() if not runtime or r == runtime)
                raise UsageError(f"{raw}: no {kinds} artifacts in this directory")
            found.extend(inside)
        else:
            raise UsageError(f"{raw}: not a .tflite, .onnx, .ort or .mlpackage artifact")
    unique = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


def _read_json(path: pathlib.Path, notes: list):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        notes.append(f"ignored unreadable {path.name}: {exc}")
        return None


def _entry_for(doc, name):
    if not isinstance(doc, dict) or not isinstance(doc.get("artifacts"), list):
        return None
    for entry in doc["artifacts"]:
        if isinstance(entry, dict) and entry.get("file") == name:
            return entry
    return None


def export_info(path) -> ExportInfo:
    """What the exporter recorded about `path` in the files beside it."""
    path = pathlib.Path(path)
    notes = []
    manifest = _read_json(path.parent / "manifest.json", notes)
    report = _read_json(path.parent / "report.json", notes)
    return ExportInfo(manifest if isinstance(manifest, dict) else None,
                      _entry_for(manifest, path.name), _entry_for(report, path.name), tuple(notes))


def input_size_from_shape(shape):
    """[h, w] of a 4-D image input, NHWC or NCHW (1, 3 or 4 channels); else None."""
    if shape is None or len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape[1:]):
        return None
    if shape[3] in (1, 3, 4):
        return [int(shape[1]), int(shape[2])]
    if shape[1] in (1, 3, 4):
        return [int(shape[2]), int(shape[3])]
    return None


def _manifest_input_size(manifest):
    value = manifest.get("input_size")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return [value, value]
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value):
        return [int(v) for v in value]
    return None


def describe(path, info: ExportInfo | None = None, input_shape=None) -> dict:
    """The `artifact` object of a result."""
    path = pathlib.Path(path)
    info = info or export_info(path)
    entry = info.entry or {}
    size, digest = size_bytes(path), sha256(path)
    input_size = _manifest_input_size(info.manifest) if info.entry is not None else None
    if input_size is None:
        input_size = input_size_from_shape(input_shape)
    return {
        "file": path.name,
        "variant": info.manifest.get("variant") if info.entry is not None else None,
        "precision": entry.get("precision"),  # the manifest says; a file name is no proof
        "input_size": input_size,
        "size_bytes": size,
        "sha256": digest,
    }


def validation(info: ExportInfo):
    """The export report's `validation` object for this artifact, copied; None without one."""
    value = (info.report_entry or {}).get("validation")
    return dict(value) if isinstance(value, dict) else None
