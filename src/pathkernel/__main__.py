"""Command line: ``python -m pathkernel figures list``, ``... figures build ID [--scale] [--store] [--recompute]``,
``... run EXPERIMENT [--scale] [--seeds 0-9] [--device] [--scheduler local|ADDRESS] [--store DIR]`` and
``... store status`` (the entries the book renders from the committed results store).

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
    build.add_argument("--store", default=None,
                       help="results store a paper or large figure is read from (default: the book's, results/)")
    build.add_argument("--recompute", action="store_true",
                       help="run a paper or large study here instead of reading it from the store")
    store = commands.add_parser("store", help="the book's stored paper-scale results")
    store.add_argument("action", choices=("status",),
                       help="status: every entry the book renders, current or not, and the command that refreshes it; "
                            "exit status 1 when one is neither current nor on the stale-list")
    store.add_argument("--store", default=None, help="the store folder (default: the book's, results/)")
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
    if args.group == "store":
        return _store_status(args)
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
    if scale != "quick" and not args.recompute:
        from pathkernel import runs
        from pathkernel.runs import committed

        where = args.store or committed.default_store()
        missing, large = [], set()
        for figure_id in ids:
            spec = figures.spec(figure_id)
            config_class = figures.experiment_module(spec).Config
            seed = spec.seed if args.seed is None else args.seed
            name = runs.study_name(spec.experiment)
            config = config_class.from_scale(scale)
            if where is None or committed.load(committed.Entry(name, config, seed), where) is None:
                missing.append((figure_id, name, config.scale, seed))
                if scale == "paper" and config_class.has_large() and where is not None \
                        and committed.load(committed.Entry(name, config_class.large(), seed), where) is not None:
                    large.add(name)
        if missing:
            figure_id, name, preset, seed = missing[0]
            message = (f"{figure_id}: {committed.not_stored(name, preset, seed, where, args.store or 'results')}, "
                       f"or pass --recompute")
            if len(missing) > 1:
                message += f"; {len(missing) - 1} more without a stored run: {', '.join(m[0] for m in missing[1:])}"
            if large:
                message += f"; --scale large reads the stored large preset of {', '.join(sorted(large))}"
            return _fail(message)
    for figure_id in ids:
        record = figures.build(figure_id, scale=scale, seed=args.seed, out=args.out, device=device, store=args.store,
                               recompute=args.recompute)
        stale = " (stored run STALE: its study's code changed since; see results/stale.txt)" \
            if record.get("stored_status") == "stale" else ""
        print(f"{figure_id}: {args.out}/{figure_id}.png .pdf .json (scale {record['scale']}, "
              f"device {record['device']}, sha256 {record['result_sha256'][:12]}){stale}")
    return 0


def _store_status(args: argparse.Namespace) -> int:
    """``store status``: one line per entry the book renders, with the refresh command where it is not current."""
    from pathkernel.runs import checkpoint, committed

    from pathkernel.runs.provenance import shared_changes
    from pathkernel.runs.store import Store

    where = args.store or committed.default_store()
    listed = committed.stale_list(where) if where is not None else {}
    changes: dict[str | None, list[str] | None] = {}
    unlisted = 0
    for entry in committed.needed():
        state = committed.status(entry, where)
        reason = listed.get((entry.study, entry.scale, entry.seed))
        line = f"{entry.study:<36} {entry.scale:<6} seed {entry.seed}  {state}"
        record = Store(where).record(entry.study, entry.config, entry.seed) if state != "missing" else None
        if record is not None:
            commit = record.get("git_commit")
            if commit not in changes:
                changes[commit] = shared_changes(commit)
            if record.get("git_dirty"):
                line += f"  (run from a modified tree of {str(commit)[:10]})"
            if changes[commit]:
                line += f"  (shared code changed since this run: {', '.join(changes[commit])})"
        if state != "finished" and where is not None:
            kept = Store(where).checkpoints(entry.study, entry.config, entry.seed)
            if items := checkpoint.finished_items(kept):
                line += f"  (resumes from {len(items)} finished items in {kept.name})"
        if state != "finished" and reason:
            line += f"  (listed: {reason})"
        elif state != "finished":
            unlisted += 1
            line += f"  (refresh: {committed.refresh_command(entry.study, entry.scale, entry.seed, args.store or 'results')})"
        print(line)
    return 1 if unlisted else 0


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
