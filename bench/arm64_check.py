"""ARM64 correctness: the TFLite exports in LiteRT's aarch64 build, emulated.

    python bench/arm64_check.py [--crops 8] [--no-record]

Phones are ARM; LiteRT 2.3 has no Linux aarch64 wheel, LiteRT 1.4.0 (the line
of the Android Maven artifacts) has. This script runs that wheel under
Debian's qemu-user-static: an arm64 Python 3.11 root unpacked from Debian
bookworm's arm64 .debs (apt-get download with a private apt state, dpkg -x)
plus the manylinux aarch64 wheels of ai-edge-litert 1.4.0 and numpy<2
unpacked into a site folder, cached under ~/.cache/tinymoat/arm64
($TINYMOAT_ARM64 overrides) and reused afterwards; ``<cache>/bin/python``
starts that python under qemu-aarch64. qemu-user-static is installed with
apt-get when it is missing and this runs as root.

tiny-moat-0 at 224 (checkpoint fixture ../shared/fixtures/deeplab2/tiny_moat0_224
when present, else seeded random weights) is exported float32 and INT8 like
`tinymoat-export` does by default (raw uint8 pixels in, float logits out).
Each export runs on the validation crops (held-out photo crops) with XNNPACK
and 1 thread in the emulated aarch64 LiteRT 1.4.0, through the same runner
(export/latency/runtime_runner.py) as `tinymoat-bench --runtimes`, and on
x86 in the project's LiteRT 2.3 and in LiteRT 1.4.0. Printed per model and
x86 runtime: the largest relative difference (float32) or the smallest
per-crop SQNR and the top-1 agreement (INT8), the XNNPACK partitions and the
ops the ARM build's XNNPACK takes and leaves outside, and how long each step
took. Timing under emulation says nothing about phones and is not measured.

Targets, each printed with PASS/FAIL, against both x86 runtimes:
float32 within 1e-4 relative; INT8 same top-1 on every crop and >= 30 dB SQNR.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from record import cpu_description, write_section  # noqa: E402
from weights import FIXTURE, fixture_style_weights  # noqa: E402

VARIANT, SIZE = "tiny-moat-0", 224
FLOAT_REL_TARGET, SQNR_TARGET = 1e-4, 30.0

DEBIAN_MIRROR, DEBIAN_SUITE = "http://deb.debian.org/debian", "bookworm"
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# python3.11 and every shared library its stdlib, numpy and LiteRT load.
DEBS = ("python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6",
        "libstdc++6", "libgcc-s1", "zlib1g", "libffi8", "libexpat1", "libbz2-1.0", "liblzma5",
        "libcrypt1", "libssl3", "libsqlite3-0", "libuuid1", "libncursesw6", "libtinfo6",
        "libreadline8", "libtirpc3", "libnsl2", "libgssapi-krb5-2", "libkrb5-3", "libk5crypto3",
        "libkrb5support0", "libcom-err2", "libkeyutils1", "libdb5.3", "media-types")
WHEELS = ("ai-edge-litert==1.4.0", "numpy<2")
# The exact tag first: pip's legacy alias alone (manylinux2014) does not match every wheel.
WHEEL_PLATFORMS = ("manylinux_2_17_aarch64", "manylinux2014_aarch64")
MARKER = "tinymoat-arm64.json"
STEP_TIMEOUT_S = 900


class Arm64Error(Exception):
    """The emulated environment cannot be made or used: one line for the user."""


def cache_dir() -> pathlib.Path:
    if os.environ.get("TINYMOAT_ARM64"):
        return pathlib.Path(os.environ["TINYMOAT_ARM64"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "tinymoat" / "arm64"


def _spec() -> dict:
    return {"debian": f"{DEBIAN_SUITE} arm64", "debs": list(DEBS), "wheels": list(WHEELS)}


def cached_python():
    """``<cache>/bin/python`` (the aarch64 python under qemu) when the cache is complete and
    its qemu is still installed; None otherwise. Creates nothing."""
    root = cache_dir()
    try:
        marker = json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    python = root / "bin" / "python"
    if marker.get("spec") != _spec() or not python.exists() \
            or not os.access(marker.get("qemu", ""), os.X_OK):
        return None
    return python


def _run(cmd, what, cwd=None, env=None):
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd,
                              env=env, errors="replace", timeout=STEP_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise Arm64Error(f"{what}: cannot run {cmd[0]}: {exc}") from None
    except subprocess.TimeoutExpired:
        raise Arm64Error(f"{what} did not finish in {STEP_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        raise Arm64Error(f"{what} failed (exit {proc.returncode}): "
                         f"{lines[-1].strip() if lines else '(no output)'}")
    return proc


def find_qemu(log=None) -> str:
    """The qemu-aarch64 user-mode emulator; installs Debian's qemu-user-static if missing
    (as root, with apt-get)."""
    for name in ("qemu-aarch64-static", "qemu-aarch64"):
        found = shutil.which(name)
        if found:
            return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise Arm64Error("qemu-aarch64-static not found: install Debian's qemu-user-static "
                         "(apt-get install qemu-user-static)")
    if log:
        log("installing qemu-user-static with apt-get (once)")
    _run(["apt-get", "install", "-y", "-q", "qemu-user-static"], "apt-get install qemu-user-static",
         env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("qemu-aarch64-static")
    if not found:
        raise Arm64Error("apt-get installed qemu-user-static but qemu-aarch64-static is not on PATH")
    return found


def _download_debs(scratch: pathlib.Path) -> pathlib.Path:
    """The arm64 .debs of DEBS, via apt with its own state folder (the host's apt
    configuration and architectures stay as they are)."""
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        raise Arm64Error("building the arm64 root needs Debian's apt-get and dpkg")
    apt = scratch / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "debs"):
        (apt / sub).mkdir(parents=True)
    (apt / "status").touch()
    signed = f"[signed-by={DEBIAN_KEYRING}] " if os.path.exists(DEBIAN_KEYRING) else ""
    (apt / "sources.list").write_text(f"deb {signed}{DEBIAN_MIRROR} {DEBIAN_SUITE} main\n")
    options = ["-oAPT::Architecture=arm64", "-oAPT::Architectures::=arm64",
               f"-oDir::State={apt}", f"-oDir::State::Lists={apt}/lists",
               f"-oDir::State::status={apt}/status", f"-oDir::Cache={apt}/cache",
               f"-oDir::Etc::SourceList={apt}/sources.list", "-oDir::Etc::SourceParts=/nonexistent",
               "-oAPT::Sandbox::User=root", "-q"]
    _run(["apt-get", *options, "update"], f"apt-get update ({DEBIAN_SUITE} arm64)")
    _run(["apt-get", *options, "download", *DEBS], "apt-get download (arm64 .debs)",
         cwd=apt / "debs")
    return apt / "debs"


def _build(scratch: pathlib.Path, qemu: str, log=None) -> None:
    env = scratch / "env"
    root, site, bin_dir = env / "root", env / "site", env / "bin"
    for folder in (root, site, bin_dir):
        folder.mkdir(parents=True)
    if log:
        log(f"downloading Debian {DEBIAN_SUITE} arm64 packages: {', '.join(DEBS[:3])}, ...")
    for deb in sorted(_download_debs(scratch).glob("*.deb")):
        _run(["dpkg", "-x", deb, root], f"dpkg -x {deb.name}")
    if log:
        log(f"downloading aarch64 wheels: {' '.join(WHEELS)}")
    wheels = scratch / "wheels"
    platforms = [a for p in WHEEL_PLATFORMS for a in ("--platform", p)]
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
          "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
          *platforms, "--dest", wheels, *WHEELS], "pip download (aarch64 wheels)")
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:  # a wheel unpacked is an installed package
            archive.extractall(site)
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        "# The aarch64 Python 3.11 of this folder under qemu user-mode emulation.\n"
        'env_dir=$(cd "$(dirname "$0")/.." && pwd)\n'
        "unset PYTHONHOME VIRTUAL_ENV\n"
        'export QEMU_LD_PREFIX="$env_dir/root" PYTHONPATH="$env_dir/site" PYTHONNOUSERSITE=1\n'
        f'exec "{qemu}" "$env_dir/root/usr/bin/python3.11" "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    probe = _run([python, "-c", "import platform, numpy, ai_edge_litert.interpreter; "
                  "print(platform.machine())"], "the emulated aarch64 python")
    if probe.stdout.strip() != "aarch64":
        raise Arm64Error(f"the emulated python reports {probe.stdout.strip()!r}, not aarch64")
    (env / MARKER).write_text(json.dumps({"spec": _spec(), "qemu": qemu}) + "\n", encoding="utf-8")


def ensure(log=None) -> pathlib.Path:
    """``<cache>/bin/python``, building the environment first when it is not cached.

    Built in a temporary folder beside the cache and renamed into place once its
    python has imported LiteRT, under a lock, so a failed or concurrent build
    never leaves a half-made environment that looks usable.
    """
    python = cached_python()
    if python is not None:
        return python
    qemu = find_qemu(log)
    final = cache_dir()
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        lock = open(final.parent / f"{final.name}.lock", "w")
    except OSError as exc:
        raise Arm64Error(f"cannot create {final}: {exc}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        python = cached_python()
        if python is not None:
            return python
        if log:
            log(f"building the emulated aarch64 LiteRT environment in {final} (once)")
        scratch = pathlib.Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            _build(scratch, qemu, log)
            if final.exists():
                shutil.rmtree(final)
            os.replace(scratch / "env", final)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    python = cached_python()
    if python is None:
        raise Arm64Error(f"the environment in {final} is unusable; delete that folder")
    return python


# --- the check ------------------------------------------------------------------

def op_counts(path) -> dict:
    """{op: count} of a .tflite graph, read from its flatbuffer, by op name."""
    from tinymoat.quantization.tflite.ops import op_histogram
    return dict(sorted(op_histogram(path).items()))


def feeds_for(path, pixels, normalized) -> list:
    """One feed per crop: raw pixels for a uint8 input, normalised (and quantized) otherwise."""
    from ai_edge_litert.interpreter import Interpreter

    from tinymoat.quantization.tensors import quantize
    detail = Interpreter(model_path=str(path)).get_input_details()[0]
    if np.dtype(detail["dtype"]) == np.uint8 and detail["quantization"][0] == 1.0:
        return [[p[None].astype(np.uint8)] for p in pixels]
    return [[quantize(x[None], detail)] for x in normalized]


def run_crops(python, path, feeds, what):
    """(runner facts of the model, [outputs per crop]) from one runner process that opens the
    model once per crop (the runner takes one feed per model)."""
    from tinymoat.export.latency import runtimes
    result, outputs = runtimes.run_models(python, [path] * len(feeds), feeds, runs=1, warmup=0,
                                          what=what)
    return result, outputs


def compare(outputs, reference, details) -> dict:
    """Per-crop agreement of `outputs` with `reference`, summarised over the crops."""
    from tinymoat.export.latency import runtimes
    per_crop = [runtimes.agreement(o, r, details) for o, r in zip(outputs, reference)]
    rel = [a["max_rel_diff"] or 0.0 for a in per_crop]
    sqnr = [float("inf") if a["sqnr_db"] is None else a["sqnr_db"] for a in per_crop]
    return {"max_rel_diff": max(rel), "min_sqnr_db": min(sqnr),
            "same_top1": sum(a["same_top1"] for a in per_crop), "crops": len(per_crop)}


def export_models(folder, calibration_count):
    """(weights description, {precision: path}) of tiny-moat-0 224 exported like tinymoat-export."""
    import tinymoat
    from tinymoat import data
    from tinymoat.export import progress
    from tinymoat.export.target import ExportJob
    from tinymoat.export.tflite import TFLiteTarget
    progress.ENABLED = False
    model = tinymoat.build_model(VARIANT, SIZE, batch_size=1)
    if os.path.isdir(FIXTURE):
        tinymoat.load_deeplab2_checkpoint(model, FIXTURE)
        weights = "checkpoint fixture tiny_moat0_224"
    else:
        fixture_style_weights(model, seed=0)
        weights = "seeded random weights (no checkpoint fixture)"
    job = ExportJob(model=model, variant=VARIANT, input_size=(SIZE, SIZE),
                    labels=[f"class_{i}" for i in range(model.output.shape[-1])],
                    normalization=model.moat_config.normalization,
                    calibration=data.sample_photo_crops(SIZE, count=calibration_count).pixels)
    paths = {}
    for precision in ("float32", "int8"):
        paths[precision] = os.path.join(folder, f"tm0_{precision}.tflite")
        TFLiteTarget().export(job, precision, paths[precision])
    return weights, job, paths


def _ops(counts) -> str:
    return ", ".join(f"{op} x{n}" for op, n in counts.items()) or "none"


def verdict(ok) -> str:
    return "PASS" if ok else "FAIL"


def check_model(arm, x86_14, path, feeds, precision, clock) -> dict:
    """One export on the crops in aarch64 LiteRT 1.4, against x86 LiteRT 2.3 and 1.4."""
    from tinymoat.export.latency import runtimes
    t = time.perf_counter()
    facts, arm_out = run_crops(arm, path, feeds, f"aarch64 LiteRT ({precision})")
    clock[f"aarch64 run, {precision}, {len(feeds)} crops"] = time.perf_counter() - t
    ref23 = [runtimes.reference_outputs(path, f) for f in feeds]
    details = ref23[0][1]
    x86_facts, out14 = run_crops(x86_14, path, feeds, f"x86 LiteRT 1.4 ({precision})")
    counts = op_counts(path)
    outside = facts["models"][0]["ops_outside"]
    inside = {op: n - outside.get(op, 0) for op, n in counts.items()
              if n - outside.get(op, 0) > 0}
    return {"arm": facts, "x86-1.4": x86_facts["models"][0],
            "vs 2.3": compare(arm_out, [r for r, _ in ref23], details),
            "vs 1.4": compare(arm_out, out14, details),
            "inside": inside, "outside": outside}


def check_exports(arm, x86_14, crops_count, calibration_count, clock):
    """(weights description, {precision: check_model(...)}) of the float32 and INT8 exports."""
    from tinymoat import data
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        weights, job, paths = export_models(folder, calibration_count)
        clock["export float32 + int8"] = time.perf_counter() - t
        crops = data.sample_photo_crops(SIZE, count=crops_count, seed=1).pixels
        normalized = job.normalized(crops)
        return weights, {precision: check_model(arm, x86_14, path,
                                                feeds_for(path, crops, normalized),
                                                precision, clock)
                         for precision, path in paths.items()}


def result_lines(weights, crops_count, results) -> list:
    """The header, the agreement table and the per-precision op lists."""
    from tinymoat.export.latency import runtimes
    arm = results["float32"]["arm"]
    lines = [f"{VARIANT} at {SIZE}x{SIZE}, {weights}, default `tinymoat-export` forms "
             f"(uint8 pixels in for INT8, float logits out); {crops_count} held-out photo crops; emulated: "
             f"ai-edge-litert {arm['runtime']['version']} aarch64 (Python "
             f"{arm['python']}, Debian {DEBIAN_SUITE} arm64 root) under "
             f"qemu-aarch64, XNNPACK, 1 thread; x86: ai-edge-litert "
             f"{runtimes.reference_version()} (project) and 1.4.0; host {cpu_description()}", "",
             "| model | vs x86 runtime | max rel diff | min SQNR (dB) | same top-1 | "
             "partitions aarch64 / x86 1.4 |", "|---|---|--:|--:|--:|---|"]
    for precision, r in results.items():
        for against in ("vs 2.3", "vs 1.4"):
            a = r[against]
            lines.append(f"| {precision} | {against[3:]} | {a['max_rel_diff']:.2g} | "
                         f"{a['min_sqnr_db']:.1f} | {a['same_top1']}/{a['crops']} | "
                         f"{r['arm']['models'][0]['partitions']} / {r['x86-1.4']['partitions']} |")
    lines += [""]
    for precision, r in results.items():
        lines.append(f"- {precision}: the aarch64 build's XNNPACK takes {_ops(r['inside'])}; "
                     f"outside: {_ops(r['outside'])} (x86 1.4 outside: "
                     f"{_ops(r['x86-1.4']['ops_outside'])})")
    return lines


def target_lines(results):
    """(lines, [met?]) of the float32 and INT8 targets against both x86 runtimes."""
    lines, targets = ["", "Targets:"], []
    for against in ("vs 2.3", "vs 1.4"):
        a = results["float32"][against]
        ok = a["max_rel_diff"] <= FLOAT_REL_TARGET
        targets.append(ok)
        lines.append(f"- float32 aarch64 {against} x86: within {FLOAT_REL_TARGET:g} relative: "
                     f"{a['max_rel_diff']:.2g} {verdict(ok)}")
        a = results["int8"][against]
        ok = a["same_top1"] == a["crops"]
        targets.append(ok)
        lines.append(f"- int8 aarch64 {against} x86: same top-1 on every crop: "
                     f"{a['same_top1']}/{a['crops']} {verdict(ok)}")
        ok = a["min_sqnr_db"] >= SQNR_TARGET
        targets.append(ok)
        lines.append(f"- int8 aarch64 {against} x86: SQNR >= {SQNR_TARGET:g} dB on every crop: "
                     f"{a['min_sqnr_db']:.1f} dB {verdict(ok)}")
    return lines, targets


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=8, help="validation crops per model")
    parser.add_argument("--calibration", type=int, default=8)
    parser.add_argument("--no-record", action="store_true")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.crops < 1 or args.calibration < 1:
        print("arm64_check: error: --crops and --calibration must be >= 1", file=sys.stderr)
        return 2
    from tinymoat.export.latency import runtimes
    from tinymoat.export.latency.errors import BenchError
    clock = {}
    start = time.perf_counter()
    try:
        arm = ensure(log=print)
        clock["environment (build or cache)"] = time.perf_counter() - start
        x86_14 = runtimes.ensure("litert-1.4", log=print)
    except (Arm64Error, BenchError) as exc:
        print(f"arm64_check: error: {exc}", file=sys.stderr)
        return 2
    try:
        weights, results = check_exports(arm, x86_14, args.crops, args.calibration, clock)
    except BenchError as exc:
        print(f"arm64_check: error: {exc}", file=sys.stderr)
        return 1
    clock["total"] = time.perf_counter() - start
    lines = result_lines(weights, args.crops, results)
    checked, targets = target_lines(results)
    body = "\n".join(lines + checked + ["", "Took: " + "; ".join(f"{k} {v:.0f} s"
                                                                 for k, v in clock.items())])
    print("\n" + body)
    if not args.no_record:
        command = "python bench/arm64_check.py" + (f" --crops {args.crops}"
                                                   if args.crops != 8 else "")
        path = write_section("arm64", "ARM64 (emulated) against x86 (arm64_check.py)", command,
                             body)
        print(f"\nwritten to {path}")
    return 0 if all(targets) else 1


if __name__ == "__main__":
    sys.exit(main())
