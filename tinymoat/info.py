"""tinymoat-info: parameters and multiply-adds of a variant, per stage."""

from __future__ import annotations

import argparse
import sys

from . import macs
from .config import VARIANTS
from .model import build_model


def format_table(variant: str, input_size: int, table) -> str:
    lines = [f"{variant} at {input_size}x{input_size}",
             f"{'part':<10}{'parameters':>14}{'multiply-adds':>18}"]
    for part, row in table.items():
        lines.append(f"{part:<10}{row['params']:>14,}{row['macs']:>18,}")
    total = table["total"]
    lines.append(f"= {total['params'] / 1e6:.2f} M parameters, "
                 f"{total['macs'] / 1e9:.3f} G multiply-adds")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tinymoat-info", description=__doc__)
    parser.add_argument("variant", help="one of: " + ", ".join(VARIANTS))
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--no-position-embedding", action="store_true")
    args = parser.parse_args(argv)
    try:
        model = build_model(args.variant, args.input_size, args.num_classes, batch_size=1,
                            position_embedding=not args.no_position_embedding)
    except ValueError as exc:  # Keras' own errors span many lines; the first says it
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        print(f"tinymoat-info: error: {lines[0]}", file=sys.stderr)
        return 2
    print(format_table(args.variant, args.input_size, macs.count(model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
