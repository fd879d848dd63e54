"""Command line: ``python -m pathkernel figures list``, ``... figures build ID`` and
``... run EXPERIMENT [--scale] [--seeds 0-9] [--device] [--scheduler local|ADDRESS] [--store DIR]``.

Every argument is checked before any experiment runs: an unknown figure ID, a negative
``--seed``, a bad ``PATHKERNEL_SCALE``, a ``--device`` that is not cpu or cuda (or cuda on a
machine without CUDA) or an ``--out`` that is a file or cannot be written ends the command
with exit status 2 and a one-line message naming the value; so do, for ``run``, an unknown
experiment, bad ``--seeds``, a store that cannot be written and an unreachable scheduler.
"""

from __future__ import annotations

import argparse
import sys

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
    parser = argparse.ArgumentParser(prog="python -m pathkernel", description="pathkernel's figures and experiment runs")
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
    run = commands.add_parser("run", help="run an experiment's seeds into a results store (resumable)")
    run.add_argument("experiment", help="a study of pathkernel.experiments, e.g. linear_regression or stochastic.residual")
    run.add_argument("--scale", choices=SCALES, default=None, help="default: $PATHKERNEL_SCALE or quick")
    run.add_argument("--seeds", default="0", help="seeds such as 0, 0-9 or 0,2,5-7 (default 0)")
    run.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    run.add_argument("--scheduler", default=None,
                     help="none (default: in-process), 'local' (a LocalCluster here) or a scheduler address")
    run.add_argument("--workers", type=int, default=None, help="workers of --scheduler local (default: one per core)")
    run.add_argument("--store", default="results", help="the results store folder (default: results)")
    args = parser.parse_args(argv)
    if args.group == "run":
        return _run(args)
    from pathkernel import figures

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


def _run(args: argparse.Namespace) -> int:
    """``run``: every check first, then the sweep with a progress bar, then the summary table."""
    from pathkernel.runs import cluster, studies, sweep
    from pathkernel.runs.store import Store

    try:
        module = studies.study_module(args.experiment)
        seeds = sweep.parse_seeds(args.seeds)
        scale = args.scale or current_scale()
        device = check_device(args.device, types=DEVICES)
        store = Store(args.store)
        store.check_writable()
    except ValueError as error:
        return _fail(str(error).replace("device=", "--device ", 1).replace("seeds=", "--seeds ", 1)
                     .replace("study=", "experiment ", 1))
    except OSError as error:
        return _fail(str(error).replace("store=", "--store ", 1))
    try:
        client = cluster.connect(args.scheduler, workers=args.workers)
    except ValueError as error:
        return _fail(str(error).replace("scheduler=", "--scheduler ", 1))
    try:
        outcomes = sweep.sweep(module, seeds=seeds, store=store, scale=scale, device=device, client=client)
    finally:
        if client is not None:
            client.close()
    print(sweep.summary(outcomes))
    print(f"store: {store.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
