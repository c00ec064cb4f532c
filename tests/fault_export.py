"""A scripted export through tinymoat.export.output_folder with one fault injected.

Run as a subprocess by test_export_output_folder.py:

    python fault_export.py OUT EVENT KIND MODE TAG

It writes an export (two artifacts, manifest with checksums, report) the way
the pipeline does, counting events: its own steps and every rename, exchange
and folder removal of output_folder. At event number EVENT it injects KIND:
"exception" (a RuntimeError), "sigkill" or "sigterm" (the signal to itself,
with the CLI's SIGTERM handler installed). MODE "exchange" or "fallback"
picks how the folder is swapped. TAG goes into the files so that the old and
the new export differ. Exit 0: finished before EVENT; 1: the fault was raised.

Only output_folder.py is loaded (by path, with a stand-in for the package), so
each run starts in milliseconds instead of importing TensorFlow.
"""

import hashlib
import importlib.util
import json
import os
import pathlib
import shutil
import signal
import sys
import types

ROOT = pathlib.Path(__file__).resolve().parents[1]


class ExportError(ValueError):
    pass


def load_output_folder():
    for name in ("tinymoat", "tinymoat.export"):
        module = types.ModuleType(name)
        module.__path__ = []
        sys.modules[name] = module
    target = types.ModuleType("tinymoat.export.target")
    target.ExportError = ExportError
    sys.modules["tinymoat.export.target"] = target
    spec = importlib.util.spec_from_file_location("tinymoat.export.output_folder",
                                                  ROOT / "export" / "output_folder.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Terminated(BaseException):
    pass


def main(out, event, kind, mode, tag):
    output_folder = load_output_folder()
    count = [0]

    def tick():
        count[0] += 1
        if count[0] != event:
            return
        if kind == "exception":
            raise RuntimeError(f"injected at event {event}")
        os.kill(os.getpid(), signal.SIGKILL if kind == "sigkill" else signal.SIGTERM)

    def counted(function):
        def wrapper(*args, **kwargs):
            tick()
            result = function(*args, **kwargs)
            tick()
            return result
        return wrapper

    os.rename = counted(os.rename)
    output_folder._exchange = counted(output_folder._exchange)
    shutil.rmtree = counted(shutil.rmtree)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(Terminated()))

    try:
        output_folder.check(out)
        output_folder.recover(out)
        with output_folder.building(out) as work:
            tick()
            artifacts = []
            for name in (f"model_{tag}.tflite", "model.onnx"):
                path = os.path.join(work.new, name)
                with open(path, "w") as f:
                    f.write(f"{tag} {name}\n" * 1000)
                artifacts.append({"file": name, "sha256": sha256(path)})
                tick()
            write_json(os.path.join(work.new, "manifest.json"),
                       {"schema": output_folder.MANIFEST_SCHEMA, "tag": tag,
                        "artifacts": artifacts})
            tick()
            write_json(os.path.join(work.new, "report.json"), {"tag": tag})
            tick()
            work.publish(exchange=mode == "exchange")
            tick()
    except (RuntimeError, Terminated):
        return 1
    return 0


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def write_json(path, value):
    pathlib.Path(path).write_text(json.dumps(value))


if __name__ == "__main__":
    out_arg, event_arg, kind_arg, mode_arg, tag_arg = sys.argv[1:]
    sys.exit(main(out_arg, int(event_arg), kind_arg, mode_arg, tag_arg))
