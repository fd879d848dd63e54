"""Command line: ``python -m pathkernel figures list`` and ``... figures build ID``.

Every argument is checked before any experiment runs: an unknown figure ID, a negative
``--seed``, a bad ``PATHKERNEL_SCALE``, a ``--device`` that is not cpu or cuda (or cuda on a
machine without CUDA) or an ``--out`` that is a file or cannot be written ends the command
with exit status 2 and a one-line message naming the value.
"""

from __future__ import annotations

import argparse
import sys

from pathkernel import figures
from pathkernel.experiments import DEVICES, SCALES, check_device, current_scale


def _seed(text: str) -> int:
    """argparse type of --seed: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 0:
        raise argparse.ArgumentTypeError(f"invalid seed {text!r}: expected an integer >= 0")
    return value


def _fail(message: str) -> int:
    print(f"python -m pathkernel: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pathkernel", description="pathkernel's citable figures")
    commands = parser.add_subparsers(dest="group", required=True)
    group = commands.add_parser("figures", help="list or regenerate the book's figures")
    actions = group.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every figure ID with its chapter and description")
    build = actions.add_parser("build", help="regenerate one figure (PNG, PDF, provenance JSON)")
    build.add_argument("id", nargs="+", help="figure ID(s), or 'all'")
    build.add_argument("--scale", choices=SCALES, default=None, help="default: $PATHKERNEL_SCALE or quick")
    build.add_argument("--seed", type=_seed, default=None, help="an integer >= 0; default: the chapter's seed")
    build.add_argument("--out", default="figures", help="output folder (default: figures)")
    build.add_argument("--device", default="cpu",
                       help="where the experiments compute: cpu (default), cuda or cuda:N; "
                            "the figures are drawn from CPU arrays either way")
    args = parser.parse_args(argv)
    if args.action == "list":
        for spec in figures.FIGURES.values():
            print(f"{spec.id:<32} {spec.chapter:<20} {spec.description}")
        return 0
    ids = list(figures.FIGURES) if args.id == ["all"] else args.id
    # every check before the first experiment runs
    for figure_id in ids:
        try:
            figures.spec(figure_id)
        except KeyError as error:
            return _fail(error.args[0])
    try:
        scale = args.scale or current_scale()
    except ValueError as error:  # a bad PATHKERNEL_SCALE, named with the allowed scales
        return _fail(str(error))
    try:
        device = check_device(args.device, types=DEVICES)
    except ValueError as error:
        return _fail(str(error).replace("device=", "--device ", 1))
    try:
        figures.output_folder(args.out)
    except (OSError, ValueError) as error:
        return _fail(str(error).replace("out=", "--out ", 1))
    for figure_id in ids:
        record = figures.build(figure_id, scale=scale, seed=args.seed, out=args.out, device=device)
        print(f"{figure_id}: {args.out}/{figure_id}.png .pdf .json (scale {record['scale']}, "
              f"device {record['device']}, sha256 {record['result_sha256'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
