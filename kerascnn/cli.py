"""Command line front end (argparse only: every command calls the Python API).

``kerascnn search`` runs an experiment (a YAML file, or one that ships with
the kit: ``kerascnn experiments`` lists them, ``kerascnn init`` copies one to
edit), ``kerascnn report`` prints a run's leaderboard, ``kerascnn evaluate``
scores a saved model, ``kerascnn models`` lists the registry. ``python -m
kerascnn`` is the same program.

Expected failures print one or two lines, no traceback (``--debug`` shows it),
and exit with a status that says what kind of failure it was:

====  =====================================================================
0     done
1     nothing matched (``models`` with a filter that matches no model), or no
      trial of a search completed (every one failed or was rejected)
2     bad input: experiment file, ``--set``, argument, data file
3     run directory refused: in use, a different experiment, not a kerascnn
      run, or a damaged run file (nothing in it was changed)
74    the file system refused (permissions, no space, read-only, ...)
75    a worker recycled itself (``--recycle-after``): start it again
130   interrupted (Ctrl-C); ``kerascnn search`` resumes with the same command
====  =====================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys


def _shape(text: str) -> tuple:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 32,32,3; received {text!r}") from None


def cmd_models(args) -> int:
    """Print each registered model: family, ranks, input shape, parameters, keras.applications twin, knobs."""
    import keras

    from kerascnn.architectures import list_models, model_info, plan_model
    from kerascnn.search.space import KNOBS

    names = list_models(pattern=args.pattern, family=args.family)
    if not names:
        print(f"No registered model matches pattern={args.pattern!r} family={args.family!r}.", file=sys.stderr)
        return 1
    rows = [("name", "family", "ranks", "input shape", "parameters", "keras twin", "searchable knobs")]
    for name in names:
        info = model_info(name)
        shape = args.input_shape or info.default_input_shape
        params = "-"
        if not args.no_params:
            kwargs = {"input_shape": shape}
            if args.num_classes:
                kwargs["num_classes"] = args.num_classes
            try:
                plan = plan_model(name, **kwargs)  # from the layer specs or the published count: nothing built
                params = f"{plan.count_params():,}"
                if not plan.exact and plan.known_params is None:  # built to be counted (a non-default shape)
                    keras.backend.clear_session()
            except ValueError as err:  # e.g. an --input-shape too small for this model
                params = f"n/a ({str(err).split('.')[0]})"
        ranks = ",".join(f"{r}D" for r in info.ranks)
        accepted = info.accepted_arguments()
        knobs = ",".join(k for k, knob in KNOBS.items() if knob.scope in ("layer", "model") and k in accepted)
        twin = info.keras_twin or "-"
        rows.append((name, info.family, ranks, "×".join(map(str, shape)), params, twin, knobs or "-"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
        if i == 0:
            print("  ".join("-" * w for w in widths) + "  " + "-" * len(row[-1]))
    return 0


DEFAULT_EXPERIMENT = "digits"  # built in (kerascnn/experiments/digits.yaml): runs from any folder
EXIT_NO_RESULT, EXIT_BAD_INPUT, EXIT_RUN_DIR, EXIT_OS, EXIT_INTERRUPTED = 1, 2, 3, 74, 130


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's Python-side warnings (tf.function retracing) out of the progress lines."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")


def cmd_search(args) -> int:
    """Validate the experiment (before any work), then run or resume it."""
    from kerascnn import config
    from kerascnn.search.run import run_search

    overrides = list(args.set or [])
    for flag, key in (
        ("max_trials", "search.max_trials"),
        ("max_seconds", "search.max_seconds"),
        ("epochs", "train.epochs"),
        ("tuner", "search.tuner"),
    ):
        if getattr(args, flag) is not None:
            overrides.append(f"{key}={getattr(args, flag)}")
    cfg = config.load(args.config, overrides)
    from kerascnn.rundir import run_dir_for
    from kerascnn.search import distributed

    distributed.set_role(args.chief, args.worker, args.worker_id, args.recycle_after)
    _quiet_tensorflow()
    args.resume_hint = (
        f"rerun the same command to resume the search in {run_dir_for(cfg.name, args.out)} "
        "(finished trials are kept; the trial that was running starts again)"
    )
    try:
        run_dir = run_search(
            cfg,
            out=args.out,
            overwrite=args.overwrite,
            printer=lambda line: print(line, flush=True),
            progress=not args.quiet,
        )
    except distributed.WorkerRecycled as done:
        print(done, flush=True)
        return distributed.RECYCLE_EXIT_CODE
    if distributed.role() != "worker" and not _has_result(run_dir):
        print(
            f"kerascnn search: error: no trial completed in {run_dir}, so there is no model "
            "(the line above says why; trials.csv has each trial's reason)",
            file=sys.stderr,
        )
        return EXIT_NO_RESULT
    return 0


def _has_result(run_dir) -> bool:
    """Whether the run's summary.json names a best trial."""
    import json

    from kerascnn.results import files

    try:
        return bool(json.loads((run_dir / files.SUMMARY).read_text()).get("best"))
    except (OSError, ValueError):
        return False


def cmd_experiments(args) -> int:
    """One line per built-in experiment: its name and what it shows."""
    from kerascnn import experiments

    width = max(map(len, experiments.names()))
    for name in experiments.names():
        print(f"{name.ljust(width)}  {experiments.summary(name)}")
    print(
        f"\nRun one with `kerascnn search NAME` (default {experiments.DEFAULT}); copy one to edit with "
        "`kerascnn init FILE --from NAME`."
    )
    return 0


def cmd_init(args) -> int:
    """Copy a built-in experiment (its comments included) to a new file; never over an existing one."""
    from pathlib import Path

    from kerascnn import experiments

    source = experiments.path(args.source)
    if source is None:
        raise ValueError(
            f"--from {args.source!r} is not a built-in experiment; they are: {', '.join(experiments.names())}"
        )
    given = Path(args.file)
    if given.is_dir() or given.name in ("", ".", ".."):
        raise ValueError(f"init writes a file: give its name, e.g. my.yaml (received {args.file!r}, a folder)")
    target = given if given.suffix in (".yaml", ".yml") else given.with_name(given.name + ".yaml")
    if not target.parent.is_dir():
        raise ValueError(f"cannot write {target}: the folder {target.parent} does not exist (nothing was written)")
    with open(target, "x") as f:  # "x": an existing file is refused (FileExistsError), never overwritten
        f.write(source.read_text())
    print(f"wrote {target} (from the built-in '{args.source}'): edit it, then run `kerascnn search {target}`")
    return 0


def cmd_report(args) -> int:
    """Rewrite report.md, its plots and the leaderboard files; print the leaderboard."""
    from kerascnn.results.report import leaderboard, write_report

    path = write_report(args.run_dir)
    print(leaderboard(args.run_dir, top=args.top))
    print(f"\nReport: {path}")
    return 0


def cmd_evaluate(args) -> int:
    """scikit-learn metrics and the classification report of a saved model on a dataset's test split."""
    from kerascnn.evaluation.evaluate import evaluate_model, format_evaluation
    from kerascnn.results.files import split_of

    result = evaluate_model(args.model, args.data, seed=args.seed, split_file=split_of(args.model))
    print(format_evaluation(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from kerascnn import __version__

    parser = argparse.ArgumentParser(prog="kerascnn", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"kerascnn {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    search = sub.add_parser("search", help="run (or resume) the hyperparameter search of an experiment file")
    search.add_argument(
        "config",
        nargs="?",
        default=DEFAULT_EXPERIMENT,
        help=f"experiment YAML, or a built-in experiment's name (default {DEFAULT_EXPERIMENT})",
    )
    search.add_argument("--out", default="runs", help="parent folder of the run directory (default runs/)")
    search.add_argument("--max-trials", type=int, help="override search.max_trials")
    search.add_argument(
        "--max-seconds",
        type=float,
        help="override search.max_seconds: wall-clock seconds for the whole command, refit and results included",
    )
    search.add_argument(
        "--quiet", action="store_true", help="no progress line inside trials and refits (the line per trial stays)"
    )
    search.add_argument("--epochs", type=int, help="override train.epochs")
    search.add_argument("--tuner", help="override search.tuner (random, bayesian, hyperband, grid)")
    search.add_argument(
        "--overwrite",
        action="store_true",
        help="delete the trials of an existing kerascnn run of this name and start over "
        "(a folder the kit did not make is never removed)",
    )
    search.add_argument(
        "--set",
        action="append",
        metavar="KEY.PATH=VALUE",
        help="override any config key, e.g. --set data.subset=500 (repeatable)",
    )
    search.add_argument("--chief", metavar="HOST:PORT", help="serve the oracle of a distributed search here")
    search.add_argument("--worker", metavar="HOST:PORT", help="run trials for the chief at HOST:PORT")
    search.add_argument("--worker-id", type=int, help="this worker's id (restart with the same id to resume)")
    search.add_argument(
        "--recycle-after",
        type=int,
        metavar="N",
        help="worker: exit with status 75 after N trials, to be restarted with fresh memory "
        "(tools/workers_per_gpu.sh restarts it)",
    )
    search.set_defaults(func=cmd_search)

    report = sub.add_parser("report", help="write report.md with plots and print the leaderboard of a run directory")
    report.add_argument("run_dir", help="a run directory, e.g. runs/digits-simple")
    report.add_argument("--top", type=int, help="show only the best N trials")
    report.set_defaults(func=cmd_report)

    evaluate = sub.add_parser("evaluate", help="metrics and classification report of a saved model")
    evaluate.add_argument("model", help="a .keras file, e.g. runs/digits-simple/best_model.keras")
    evaluate.add_argument(
        "--data",
        default="digits",
        help="a data source name (digits, mnist, ...) or an experiment YAML (its data section and seed)",
    )
    evaluate.add_argument("--seed", type=int, help="split seed (default: the experiment's, or 0)")
    evaluate.set_defaults(func=cmd_evaluate)

    listing = sub.add_parser("experiments", help="list the experiments that ship with the kit")
    listing.set_defaults(func=cmd_experiments)

    init = sub.add_parser("init", help="write a built-in experiment to a file of yours, to edit")
    init.add_argument("file", help="the new experiment file, e.g. my_experiment.yaml")
    init.add_argument(
        "--from",
        dest="source",
        default=DEFAULT_EXPERIMENT,
        help=f"the built-in experiment to start from (default {DEFAULT_EXPERIMENT})",
    )
    init.set_defaults(func=cmd_init)

    models = sub.add_parser("models", help="list the registered architectures with their parameter counts")
    models.add_argument("pattern", nargs="?", help="shell-style name filter, e.g. 'vgg*'")
    models.add_argument("--family", help="only this family (simple, lenet, alexnet, vgg, ...)")
    models.add_argument("--input-shape", type=_shape, help="count parameters at this input, e.g. 64,64,3")
    models.add_argument("--num-classes", type=int, help="count parameters for this many classes")
    models.add_argument("--no-params", action="store_true", help="skip building models to count parameters")
    models.set_defaults(func=cmd_models)
    return parser


def _os_error(err: OSError) -> str:
    """``[Errno 13] Permission denied: 'runs/x'`` as a sentence with what to do."""
    if err.errno is None:  # raised by the kit or a library with its own message (e.g. TimeoutError)
        return str(err)
    what = err.strerror or type(err).__name__
    where = f" {str(err.filename)!r}" if err.filename else ""
    hint = {
        13: "check its permissions or choose another --out",
        30: "the file system is read-only; choose another --out",
        28: "the disk is full; free space and run the same command again",
        27: "a file would exceed this process's file size limit (ulimit -f); raise it and run the same command again",
        122: "the disk quota is used up; free space and run the same command again",
        5: "an input/output error; check the disk and run the same command again",
        36: "the name is too long for the file system; choose a shorter name or --out",
    }.get(err.errno, "")
    return f"cannot use{where}: {what}" + (f" ({hint})" if hint else "") + (f" {err}" if not err.strerror else "")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from kerascnn import startup

    if startup.BACKEND_ERROR:  # Keras could not load: only --help and --version were answered without it
        print(f"kerascnn: error: {startup.BACKEND_ERROR}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from kerascnn.rundir import RunDirError

    def fail(message: str, status: int) -> int:
        if args.debug:
            raise
        print(f"kerascnn {args.command}: error: {message}", file=sys.stderr)
        return status

    from kerascnn.rundir import environment_error

    if startup.running_the_command() and not args.debug:
        _quiet_refused_writes()
    try:
        return args.func(args)
    except KeyboardInterrupt:
        hint = getattr(args, "resume_hint", None)
        if args.debug:
            raise
        print(f"\nkerascnn {args.command}: interrupted" + (f"; {hint}." if hint else "."), file=sys.stderr)
        return EXIT_INTERRUPTED
    except RunDirError as err:
        return fail(str(err), EXIT_RUN_DIR)
    except FileExistsError as err:
        return fail(f"{err.filename} already exists; choose another name (nothing was changed)", EXIT_BAD_INPUT)
    except (ValueError, FileNotFoundError) as err:  # bad input: a clear message, no traceback
        refused = environment_error(err)
        if refused is not None:
            return _file_system_refused(fail, refused)
        return fail(str(err), EXIT_BAD_INPUT)
    except Exception as err:  # the file system refusing, however a library wrapped it (HDF5: RuntimeError)
        refused = environment_error(err)
        if refused is not None:
            return _file_system_refused(fail, refused)
        if isinstance(err, OSError):
            return fail(_os_error(err), EXIT_OS)
        raise


def _file_system_refused(fail, err: OSError) -> int:
    """Status 74 with the file system's reason. From the command, the process ends here: once a write failed,
    HDF5 can crash while Python shuts down (a segfault, status 139), which would hide the status and the line."""
    message = _os_error(err)
    if getattr(err, "trial_id", None) is not None:
        message += f"; trial {err.trial_id} was not recorded and runs again then (finished trials are kept)"
    status = fail(message, EXIT_OS)
    from kerascnn import startup

    if startup.running_the_command():
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)
    return status


def _quiet_refused_writes() -> None:
    """Drop the tracebacks HDF5 objects print when they are freed after a failed write (several per object, up
    to the process's end; Cython prints them through ``sys.excepthook`` and ``sys.unraisablehook``): the command
    names the file system's error once. Any other error still shows."""
    from kerascnn.rundir import environment_error

    unraisable_hook, except_hook = sys.unraisablehook, sys.excepthook

    def unraisable(info):
        if environment_error(info.exc_value) is None:
            unraisable_hook(info)

    def excepthook(kind, value, traceback):
        if environment_error(value) is None:
            except_hook(kind, value, traceback)

    sys.unraisablehook, sys.excepthook = unraisable, excepthook


if __name__ == "__main__":
    sys.exit(main())
