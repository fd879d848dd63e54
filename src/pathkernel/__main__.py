"""Command line: ``python -m pathkernel figures list`` and ``... figures build ID``."""

from __future__ import annotations

import argparse
import sys

from pathkernel import figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathkernel", description="pathkernel's citable figures")
    commands = parser.add_subparsers(dest="group", required=True)
    group = commands.add_parser("figures", help="list or regenerate the book's figures")
    actions = group.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every figure ID with its chapter and description")
    build = actions.add_parser("build", help="regenerate one figure (PNG, PDF, provenance JSON)")
    build.add_argument("id", nargs="+", help="figure ID(s), or 'all'")
    build.add_argument("--scale", choices=("quick", "paper"), default=None, help="default: $PATHKERNEL_SCALE or quick")
    build.add_argument("--seed", type=int, default=None, help="default: the chapter's seed")
    build.add_argument("--out", default="figures", help="output folder (default: figures)")
    args = parser.parse_args(argv)
    if args.action == "list":
        for spec in figures.FIGURES.values():
            print(f"{spec.id:<32} {spec.chapter:<20} {spec.description}")
        return 0
    ids = list(figures.FIGURES) if args.id == ["all"] else args.id
    for figure_id in ids:
        try:
            record = figures.build(figure_id, scale=args.scale, seed=args.seed, out=args.out)
        except KeyError as error:
            print(error.args[0], file=sys.stderr)
            return 2
        print(f"{figure_id}: {args.out}/{figure_id}.png .pdf .json (scale {record['scale']}, "
              f"sha256 {record['result_sha256'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
