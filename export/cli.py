"""tinymoat-export: INT8 TFLite, ONNX and Core ML artifacts, validated against the float model.

With only --target it runs on built-in defaults (tiny-moat-0 at 224, random
weights, calibration crops of a sample photo) and says so. --out is written as
a whole: a folder holding a previous export is replaced by the new one only
when everything succeeded; a folder holding other files is refused.
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings

from . import progress
from .options import check_args, parser  # noqa: F401  (the CLI's options, also for tests)
from .target import ExportError

EXIT_USAGE, EXIT_FAILED_THRESHOLD = 2, 1
EXIT_INTERRUPTED, EXIT_TERMINATED = 128 + signal.SIGINT, 128 + signal.SIGTERM


def summary_table(artifacts) -> str:
    threads = sorted({t for r in artifacts for t in r.latency_ms})
    rows = [("artifact", "size", "precision", "agreement",
             *(f"ms {t} thr" for t in threads), "path")]
    for r in artifacts:
        agreement = ("not run" if not r.numerics_run else
                     f"{r.validation['top1_agreement']:.1%} top-1, {r.validation['sqnr_db']:.1f} dB"
                     + ("" if r.passed else " FAIL") + ("" if r.thresholds else " (unchecked)"))
        timed = [f"{r.latency_ms[t]:.2f}" if t in r.latency_ms else "-" for t in threads]
        rows.append((r.target, f"{r.size_bytes / 1e6:.2f} MB", r.precision, agreement, *timed,
                     r.path))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    from .api import run
    warnings.filterwarnings("ignore")
    handles_signals = threading.current_thread() is threading.main_thread()
    progress.reset_stop()
    previous = ({s: signal.signal(s, progress.request_stop)
                 for s in (signal.SIGINT, signal.SIGTERM)} if handles_signals else {})
    try:
        result = run(args)
    except ExportError as exc:
        print(f"tinymoat-export: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tinymoat-export: interrupted; --out left as it was", file=sys.stderr)
        return EXIT_INTERRUPTED
    except progress.Terminated:
        print("tinymoat-export: terminated; --out left as it was", file=sys.stderr)
        return EXIT_TERMINATED
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(f"wrote manifest.json, report.json, report.md, labels.txt to {args.out}"
          + (" (replacing the previous export there)" if result.replaced else ""),
          file=sys.stderr)
    print(summary_table(result.artifacts))
    failed = [a for a in result.artifacts if not a.passed]
    if failed:
        print(f"tinymoat-export: {len(failed)} artifact(s) below the validation thresholds "
              "(see report.md)", file=sys.stderr)
        return EXIT_FAILED_THRESHOLD
    return 0


if __name__ == "__main__":
    sys.exit(main())
