"""The ``autokd`` command line.

Exit codes: 0 ok, 2 bad input, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM), 1 a bug.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
import logging
import os
from pathlib import Path
import re
import statistics
import sys
import warnings

from autokd import __version__
from autokd.exceptions import AutokdError
from autokd.exceptions import ConfigError

__all__ = ["main"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
KINDS = ("losses", "models", "datasets", "schedules", "samplers", "pruners")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autokd", description="Search, export and report knowledge-distillation recipes."
    )
    p.add_argument("--version", action="version", version=f"autokd {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, helptext in (
        ("run", "create or resume a study; n_trials is the total, not n more"),
        ("worker", "join an existing study from another process or machine"),
    ):
        run = sub.add_parser(name, help=helptext)
        run.add_argument("study", type=Path)
        run.add_argument("--n-trials", type=int, help="total trials (default: study file)")
        run.add_argument("--timeout", type=float, help="seconds after which no trial starts")
        run.add_argument("--device", help="cpu, cuda, cuda:N or auto")
        run.add_argument(
            "--storage",
            help="Optuna storage URL (default: $AUTOKD_STORAGE, then the study file's, then "
            "SQLite in the study folder)",
        )
        run.add_argument("--tracking-uri", help="MLflow tracking URI")
        run.add_argument("--no-progress", action="store_true", help="no live progress bar")
        if name == "run":
            run.add_argument(
                "--workers",
                type=int,
                default=1,
                help="worker processes on the study (default 1: in this process); on a "
                "multi-GPU host one per GPU, on CPU the cores are split between them",
            )

    proxy = sub.add_parser(
        "storage-proxy",
        help="serve a storage to workers as Optuna's gRPC proxy (workers use grpc://HOST:PORT)",
    )
    proxy.add_argument("--storage", required=True, help="the storage URL the proxy serves")
    proxy.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: loopback)"
    )
    proxy.add_argument("--port", type=int, default=13000, help="port (default 13000)")

    train = sub.add_parser("train", help="train exactly one recipe; print val/test accuracy")
    train.add_argument("recipe", type=Path)
    train.add_argument("--seeds", default=None, help="comma-separated seeds (default: recipe's)")
    train.add_argument("--epochs", type=int, help="override optim.epochs")
    train.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto")
    train.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="bf16 autocast or fp32 (default auto: bf16 on CUDA, fp32 on CPU)",
    )
    baseline = train.add_mutually_exclusive_group()
    baseline.add_argument(
        "--no-distill",
        action="store_true",
        help="same student and training with alpha 0 and no terms (baseline)",
    )
    baseline.add_argument(
        "--compare",
        action="store_true",
        help="also train the no-distillation and KD (T=4, alpha=0.9) baselines on the same "
        "seeds and epochs, and print the three side by side",
    )

    export = sub.add_parser("export", help="write the best trial's recipe (or the Pareto set)")
    export.add_argument("study", type=Path)
    export.add_argument(
        "-o", "--output", type=Path, required=True, help="recipe file (with --pareto: a folder)"
    )
    export.add_argument("--storage")
    export.add_argument(
        "--pareto",
        action="store_true",
        help="write trial_<n>.yaml for each Pareto-optimal trial, plus pareto.csv and "
        "pareto.md, into the folder -o (a single-objective study: its best trial)",
    )
    export.add_argument(
        "--as-searched",
        action="store_true",
        help="keep the searched training (ignore the study file's `final` section)",
    )

    bench = sub.add_parser(
        "benchmark",
        help="the study's winner against no distillation and the literature recipes, at the "
        "final budget, with paired intervals over seeds",
    )
    bench.add_argument("study", type=Path, help="the study file (its study must have run)")
    bench.add_argument(
        "--seeds",
        default="5",
        help="a count N (seeds 0..N-1) or comma-separated seeds; at least 2 (default 5)",
    )
    bench.add_argument(
        "--baselines",
        default=None,
        help="comma-separated names (default: all): no_kd and the literature recipes "
        "(kd, kd_ls, dkd, dkd_ls, dist, fitnets, at, crd, reviewkd)",
    )
    bench.add_argument(
        "--tune-lr",
        type=int,
        default=0,
        metavar="K",
        help="give each baseline its own learning rate, the best of K on the validation "
        "split (default 0: the winner's)",
    )
    bench.add_argument(
        "-o", "--output", type=Path, help="folder (default: <study folder>/benchmark)"
    )
    bench.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the study's)")
    bench.add_argument("--storage")
    bench.add_argument("--tracking-uri", help="MLflow tracking URI")

    report = sub.add_parser("report", help="importances, tables and plots of a study")
    report.add_argument("study", type=Path)
    report.add_argument("-o", "--output", type=Path, required=True)
    report.add_argument("--storage")

    teacher = sub.add_parser("teacher", help="train (or verify) the study's teacher and cache it")
    teacher.add_argument("study", type=Path)
    teacher.add_argument("--device")

    validate = sub.add_parser("validate", help="check study, search-space and recipe files")
    validate.add_argument("files", type=Path, nargs="+")

    lst = sub.add_parser("list", help="what is registered, with parameters")
    lst.add_argument("kind", nargs="?", choices=KINDS)

    model = sub.add_parser(
        "model", help="build one model; print its knobs, parameters, MACs and feature taps"
    )
    model.add_argument("family", help="a registered family (autokd list models) or torchvision.X")
    model.add_argument("--width", type=float, help="width knob (default: the family's)")
    model.add_argument("--depth", type=int, help="depth knob (default: the family's)")
    model.add_argument(
        "--input", default="3,32,32", help="one image's shape C,H,W (default: 3,32,32)"
    )
    model.add_argument("--classes", type=int, default=10, help="output classes (default: 10)")
    model.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra builder argument (YAML value); repeatable",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the CLI and returns its exit code."""
    from autokd._signals import EXIT_TERMINATED
    from autokd._signals import Terminated
    from autokd._signals import sigterm_as_interrupt

    args = _parser().parse_args(argv)
    _quiet_libraries()
    try:
        with sigterm_as_interrupt():
            return _COMMANDS[args.command](args)
    except AutokdError as exc:
        print(f"autokd: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Terminated:
        print("autokd: terminated (SIGTERM)", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("autokd: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `autokd list | head`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _quiet_libraries() -> None:
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
    # MLflow prints two "View run ... at: http://..." lines to stdout each time a run against
    # a tracking server ends (one per trial); the study's summary says where results are.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    # PED-ANOVA warns for every conditional parameter seen in few trials; the report's
    # "In complete trials" column already says how many trials each score rests on.
    warnings.filterwarnings("ignore", "Some regimes for parameter", UserWarning)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna.study._optimize").addFilter(_one_line_trial_failures)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


_FAILED = re.compile(r"^(Trial \d+) failed with parameters: .* because of the following error: ")


def _one_line_trial_failures(record: logging.LogRecord) -> bool:
    """Optuna logs a failed trial with all its params and a traceback; keep one short line
    ("Trial 6 failed: <reason>"), and say nothing for Ctrl-C (the CLI reports that)."""
    if record.exc_info and issubclass(record.exc_info[0], KeyboardInterrupt):
        return False
    record.exc_info, record.exc_text = None, None
    message = record.getMessage()
    if message.endswith("failed with value None."):
        return False  # repeats the line before it
    record.msg, record.args = _FAILED.sub(r"\1 failed: ", message), None
    return True


def _storage_flag(args: argparse.Namespace) -> str | None:
    """``--storage``, else ``$AUTOKD_STORAGE`` (then the study file's, in StudyConfig)."""
    from autokd.study._storage import STORAGE_ENV

    return args.storage or os.environ.get(STORAGE_ENV) or None


def _cmd_run(args: argparse.Namespace) -> int:
    from autokd.config import StudyConfig

    if args.n_trials is not None and args.n_trials < 1:
        raise ConfigError("--n-trials", "an integer >= 1", str(args.n_trials))
    workers = getattr(args, "workers", 1)
    if workers < 1:
        raise ConfigError("--workers", "an integer >= 1", str(workers))
    storage = _storage_flag(args)
    config = StudyConfig.from_yaml(args.study)
    options = {
        "n_trials": args.n_trials,
        "timeout": args.timeout,
        "device": args.device,
        "storage": storage,
        "tracking_uri": args.tracking_uri,
        "progress": not args.no_progress,
    }
    code = 0
    if args.command == "worker":
        from autokd.study._worker import SPAWNED_ENV
        from autokd.study._worker import run_worker

        study = run_worker(config, **options)
        if os.environ.get(SPAWNED_ENV):
            return 0  # `autokd run --workers` prints the study's summary once
    elif workers > 1:
        from autokd.study._worker import run_workers

        study, code = run_workers(config, workers, **options)
    else:
        from autokd.study import run_study

        study = run_study(config, **options)
    _print_summary(args, config, study)
    return code


def _print_summary(args: argparse.Namespace, config, study) -> None:
    from optuna.trial import TrialState

    from autokd.study._objective import SURPLUS_REASON

    everything = study.get_trials(deepcopy=False)
    # Two workers racing for the last trial may start one too many; it stops untrained and is
    # not one of the study's trials.
    trials = [t for t in everything if t.user_attrs.get("fail_reason") != SURPLUS_REASON]
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    surplus = len(everything) - len(trials)
    print(
        f"study '{study.study_name}': {len(trials)} trials "
        f"({counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed)"
        + (f"; {surplus} surplus start(s) of racing workers not counted" if surplus else "")
    )
    if counts["complete"] and len(study.directions) > 1:
        pareto = sorted(study.best_trials, key=lambda t: t.number)
        print(
            f"Pareto set: {len(pareto)} trial(s) ({', '.join(str(t.number) for t in pareto)}); "
            f"export them with `autokd export {args.study} --pareto -o DIR`"
        )
    elif counts["complete"]:
        best = study.best_trial
        print(f"best: trial {best.number}, val_acc {best.value:.4f}")
    print(f"results in {config.output_dir}/")
    final = study.user_attrs.get("final_eval") if config.final_eval is not None else None
    if final:
        seeds = final["seeds"]
        print(f"final_eval: top {len(final['candidates'])} trial(s) x seeds {seeds} (val only):")
        for c in final["candidates"]:
            mark = "  <- winner" if c["trial"] == final["winner"] else ""
            print(f"  trial {c['trial']:4d}  val_acc {_mean_std(c['vals'])}{mark}")
        print(
            f"winner: trial {final['winner']}; test_acc {_mean_std(final['tests'])} "
            f"({len(seeds)} seeds), measured once for the winner"
        )


def _cmd_storage_proxy(args: argparse.Namespace) -> int:
    from autokd.study._storage import mask_url
    from autokd.study._storage import open_storage
    from autokd.study._storage import quiet_experimental
    from autokd.study._storage import storage_kind

    if storage_kind(args.storage) in ("grpc", "other"):
        raise ConfigError(
            "--storage",
            "an sqlite:, postgresql:, mysql: or journal storage URL",
            mask_url(args.storage),
        )
    if not 0 < args.port < 65536:
        raise ConfigError("--port", "a port number 1..65535", str(args.port))
    storage = open_storage(args.storage)
    # What optuna.storages.run_grpc_proxy_server does, in steps: the line below is printed
    # only once the port accepts connections (clients started on it do not race the bind),
    # and the wait checks for a Ctrl-C that a finaliser swallowed.
    from optuna.storages._grpc.server import make_server

    from autokd._signals import raise_if_interrupted

    with quiet_experimental():
        server = make_server(storage, args.host, args.port)
    server.start()
    print(
        f"serving {mask_url(args.storage)} at grpc://{args.host}:{args.port} (Ctrl-C stops)",
        flush=True,
    )
    try:
        while server.wait_for_termination(timeout=1.0):  # True: timed out, still serving
            raise_if_interrupted()
    finally:
        server.stop(grace=None)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from autokd.engine import resolve_device
    from autokd.recipe import Recipe

    recipe = Recipe.from_yaml(args.recipe)
    seeds = _seeds(args.seeds, recipe.seed)
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError("--epochs", "an integer >= 1", str(args.epochs))
    device = resolve_device(args.device, key="--device")
    if args.no_distill:
        runs = {"no distillation (baseline)": recipe.without_distillation()}
    else:
        runs = {"distilled": recipe}
    if args.compare:
        runs["no distillation"] = recipe.without_distillation()
        runs["KD T=4 alpha=0.9"] = recipe.with_standard_kd()
    from autokd.engine import TeacherCache

    # The runs of one seed see the same teacher views: the teacher runs once per seed.
    cache = TeacherCache(memory_mb=1024)
    from autokd.config._study import EngineSettings

    bf16 = EngineSettings(precision=args.precision).bf16  # one reading of "auto"
    results = {
        name: _train_seeds(name, r, seeds, args.epochs, device, cache, bf16)
        for name, r in runs.items()
    }
    print(f"{args.recipe}, {len(seeds)} seed(s) {','.join(map(str, seeds))}:")
    width = max(len(name) for name in results)
    for name, (vals, tests) in results.items():
        print(f"  {name:{width}s}  val_acc {_mean_std(vals)}  test_acc {_mean_std(tests)}")
    if args.compare:
        ours = results["distilled"][1]
        for name in list(results)[1:]:
            diffs = [a - b for a, b in zip(ours, results[name][1], strict=True)]
            print(f"  distilled - {name}: test_acc {_mean_std(diffs, signed=True)} (paired)")
    return 0


def _train_seeds(
    name, recipe, seeds, epochs, device, cache, bf16
) -> tuple[list[float], list[float]]:
    from autokd.engine import train_recipe

    vals, tests = [], []
    for seed in seeds:
        run = recipe.with_overrides(seed=seed, epochs=epochs)
        result = train_recipe(
            run, device=device, evaluate_test=True, teacher_cache=cache, bf16=bf16
        )
        vals.append(result.val_acc)
        tests.append(result.test_acc)
        print(
            f"[{name}] seed {seed}: val_acc {result.val_acc:.4f}  test_acc "
            f"{result.test_acc:.4f}  ({result.seconds:.1f} s, student params "
            f"{result.student_params:,}, loss parts {result.extra_params:,})"
        )
    return vals, tests


def _mean_std(values: list[float], *, signed: bool = False) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    mean = f"{statistics.fmean(values):+.4f}" if signed else f"{statistics.fmean(values):.4f}"
    return f"{mean} ± {std:.4f}"


def _seeds(text: str | None, default: int) -> list[int]:
    if text is None:
        return [default]
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise ConfigError("--seeds", "comma-separated integers >= 0, like 0,1,2", repr(text))
    return seeds


def _cmd_export(args: argparse.Namespace) -> int:
    from autokd.config import StudyConfig
    from autokd.report._export import export_best
    from autokd.report._export import export_pareto

    config = StudyConfig.from_yaml(args.study)
    if args.pareto:
        if args.output.is_file():
            raise ConfigError("-o", "a folder (with --pareto)", f"the file {args.output}")
        files = export_pareto(
            config, args.output, storage=_storage_flag(args), as_searched=args.as_searched
        )
        print(
            f"wrote {len(files) - 2} Pareto-optimal recipe(s) of '{config.study.name}', "
            f"pareto.csv and pareto.md to {args.output}/"
        )
        return 0
    recipe = export_best(config, storage=_storage_flag(args), as_searched=args.as_searched)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    recipe.to_yaml(args.output)
    prov = recipe.provenance
    print(
        f"wrote {args.output}: trial {prov['trial']} of '{prov['study']}', "
        f"val_acc {prov['val_acc']:.4f}"
    )
    return 0


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from autokd.benchmark import baseline_names
    from autokd.benchmark import render_text
    from autokd.benchmark import run_benchmark
    from autokd.benchmark import summary
    from autokd.config import StudyConfig

    seeds = _benchmark_seeds(args.seeds)
    names = baseline_names() if args.baselines is None else _names(args.baselines)
    config = StudyConfig.from_yaml(args.study)
    result = run_benchmark(
        config,
        seeds=seeds,
        baselines=names,
        tune_lr=args.tune_lr,
        out_dir=args.output,
        device=args.device,
        storage=_storage_flag(args),
        tracking_uri=args.tracking_uri,
    )
    print(f"benchmark of '{config.study.name}' ({result.seconds:.0f} s):")
    print(render_text(summary(result)))
    print(f"wrote benchmark.md, benchmark.csv, benchmark.png, benchmark.html to {result.out_dir}/")
    return 0


def _benchmark_seeds(text: str) -> list[int]:
    """``N`` (seeds 0..N-1) or ``a,b,c``; the count and distinctness are checked later."""
    if "," not in text:
        try:
            count = int(text)
        except ValueError:
            count = -1
        if count < 0:
            raise ConfigError("--seeds", "a count N >= 2 or comma-separated seeds", repr(text))
        return list(range(count))
    return _seeds(text, 0)


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError("--baselines", "comma-separated baseline names", repr(text))
    return names


def _cmd_report(args: argparse.Namespace) -> int:
    from autokd.config import StudyConfig
    from autokd.report import load_study
    from autokd.report import write_report

    config = StudyConfig.from_yaml(args.study)
    study = load_study(config, _storage_flag(args))
    teacher = study.user_attrs.get("teacher", {})
    summary = {
        "teacher": f"{teacher.get('model', {}).get('family')} "
        f"(width {teacher.get('model', {}).get('width')}, "
        f"depth {teacher.get('model', {}).get('depth')})",
        "teacher val_acc": teacher.get("val_acc"),
        "teacher test_acc": teacher.get("test_acc"),
        "MLflow parent run": study.user_attrs.get("mlflow_parent_run_id"),
    }
    files = write_report(study, args.output, summary=summary)
    print(f"wrote {len(files)} files to {args.output}/")
    return 0


def _cmd_teacher(args: argparse.Namespace) -> int:
    from autokd.config import StudyConfig
    from autokd.engine import resolve_device
    from autokd.study import ensure_teacher

    config = StudyConfig.from_yaml(args.study)
    spec = ensure_teacher(config, device=resolve_device(args.device or config.device))
    print(
        f"teacher {spec.checkpoint}\n  sha256 {spec.sha256}\n"
        f"  val_acc {spec.val_acc:.4f}  test_acc {spec.test_acc:.4f}"
    )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from autokd._config import load_yaml

    failed = 0
    for path in args.files:
        try:
            kind = _validate_one(path, load_yaml(path))
            print(f"ok: {path} ({kind})")
        except AutokdError as exc:
            print(f"autokd: error: {exc}", file=sys.stderr)
            failed += 1
    return EXIT_BAD_INPUT if failed else 0


def _validate_one(path: Path, data: dict) -> str:
    from autokd.config import StudyConfig
    from autokd.config import StudySection
    from autokd.recipe import Recipe
    from autokd.study import check_study

    if "schema_version" in data:
        Recipe.from_yaml(path)
        return "recipe"
    if "study" in data:
        config = StudyConfig.from_yaml(path)
        check_study(config)
        _warn_small_validation(config)
        return "study"
    config = StudyConfig(
        study=StudySection(name="validate"), search_space=path.name, file=str(path)
    )
    check_study(config, outputs=False)  # a bare space has no study folder to write
    return "search space"


def _warn_small_validation(config) -> None:
    """A warning line when the study's validation split is too small to rank recipes and the
    study has no final_eval (only when its files are here: validate never fails for missing
    data)."""
    from autokd.data import load_splits
    from autokd.exceptions import MissingFileError
    from autokd.study import study_validation_note

    try:
        n_val = len(load_splits(config.data).val_y)
    except MissingFileError:
        return
    note = study_validation_note(config, n_val)
    if note:
        print(f"autokd: warning: {config.file}: data: {note}", file=sys.stderr)


def _cmd_list(args: argparse.Namespace) -> int:
    for kind in [args.kind] if args.kind else KINDS:
        registry = _registry(kind)
        print(f"{kind}:")
        for name in registry.list():
            print(f"  {registry.describe(name)}")
    return 0


def _cmd_model(args: argparse.Namespace) -> int:
    import torch
    import yaml

    from autokd._config import parse_model
    from autokd.models import build_model
    from autokd.models import get_family
    from autokd.models import model_info
    from autokd.recipe import ModelSpec

    shape = _shape(args.input)
    if args.classes < 1:
        raise ConfigError("--classes", "a positive integer", repr(args.classes))
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("--param", "KEY=VALUE", repr(item))
        params[key] = yaml.safe_load(value)
    given = {"family": args.family, "width": args.width, "depth": args.depth, "params": params}
    spec = parse_model(ModelSpec, given, file="autokd model")
    family = get_family(spec.family)
    torch.manual_seed(0)
    net = build_model(spec, in_channels=shape[0], num_classes=args.classes)
    try:
        info = model_info(net, shape)
    except RuntimeError as exc:  # the input is too small for the model's downsampling
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(
            "--input", f"an image shape {spec.family} accepts", args.input, hint=first
        ) from None
    print(f"{spec.family}: {family.summary}".rstrip(": "))
    for label, knob in (("width", family.width), ("depth", family.depth)):
        print(f"  {label}: {knob.short() if knob is not None else 'fixed'}")
    knobs = ", ".join(f"{k}={v}" for k, v in (("width", spec.width), ("depth", spec.depth)))
    extra = "".join(f", {k}={v!r}" for k, v in params.items())
    print(f"built: {knobs}{extra}; input {shape}, {args.classes} classes")
    print(info.summary())
    return 0


def _shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError("--input", "C,H,W with three positive integers", repr(text))
    return shape  # type: ignore[return-value]


def _registry(kind: str):
    if kind == "losses":
        from autokd.losses import LOSSES as registry
    elif kind == "models":
        from autokd.models import MODELS as registry
    elif kind == "datasets":
        from autokd.data import DATASETS as registry
    elif kind == "schedules":
        from autokd.engine import SCHEDULES as registry
    elif kind == "samplers":
        from autokd.study import SAMPLERS as registry
    else:
        from autokd.study import PRUNERS as registry
    return registry


_COMMANDS = {
    "run": _cmd_run,
    "worker": _cmd_run,
    "train": _cmd_train,
    "storage-proxy": _cmd_storage_proxy,
    "export": _cmd_export,
    "benchmark": _cmd_benchmark,
    "report": _cmd_report,
    "teacher": _cmd_teacher,
    "validate": _cmd_validate,
    "list": _cmd_list,
    "model": _cmd_model,
}


if __name__ == "__main__":
    sys.exit(main())
