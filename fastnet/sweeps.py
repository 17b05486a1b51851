"""Hyper-parameter sweeps on Dask distributed: ``fastnet sweep SPEC.toml`` or ``fastnet.sweep``.

A spec is a TOML file (or a dict of the same shape)::

    [sweep]
    method = "grid"          # or "random", with n_trials = N and seed = S (default 0)
    out = "runs/sweep1"      # sweep folder (default runs/<spec file name>)
    [base]                   # `fastnet train` options fixed for every trial
    epochs = 2
    limit = 5000
    [grid]                   # lists of values: every combination is one trial
    lr = [0.05, 0.1]
    layers = ["784,128,10", "784,256,10"]

With ``method = "random"`` the table is ``[random]``: a list is a uniform choice, a table
``{low = 1e-3, high = 0.3, log = true}`` a uniform (or log-uniform) draw rounded to 4
significant digits, whole numbers when both bounds are integers. Keys are the long options
of ``fastnet train`` (``batch_size`` or ``batch-size``); ``out``, ``force``, ``quiet``,
``no_progress`` and ``threads`` belong to the sweep.

Each trial runs ``fastnet.cli.main(["train", ..., "--out", OUT/NAME, "--quiet",
"--threads", "1"])`` in a Dask worker. NAME is made of the swept values and a hash of all
the trial's options, so the same spec gives the same folders. A trial folder holds the run
(``config.json``, ``history.csv``, ``model.npz``, ...), ``train.log`` and, written
atomically last, ``result.json``; a folder whose result says ``ok`` is finished and is
skipped when the sweep runs again. A trial that fails (train returns an error, raises, or
its worker dies) is recorded as failed and tried again by the next run. The sweep folder
gets ``results.csv`` (sorted by validation accuracy) and ``sweep.png``.

Dask is imported only when a sweep runs: ``pip install "fastnet[sweep]"``.
"""
import csv
import difflib
import hashlib
import io
import itertools
import json
import math
import os
import re
import sys
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout, suppress
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import checks
from . import io as fio

SECTIONS = ("sweep", "base", "grid", "random")
SWEEP_KEYS = ("method", "out", "n_trials", "seed")
SET_BY_SWEEP = ("out", "force", "quiet", "no_progress", "threads")
RESULT = "result.json"
METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "epochs", "seconds")
NEEDS_DASK = 'fastnet sweep needs Dask distributed: pip install "fastnet[sweep]"'


@dataclass
class Trial:
    """One training run of a sweep: ``params`` are the swept values, ``argv`` the full
    ``fastnet train`` options (without the ones the sweep adds)."""
    name: str
    params: dict
    argv: list = field(default_factory=list)


# ---------------------------------------------------------------- the spec
def load_spec(path):
    """The dict in a TOML spec file (``tomllib``, or ``tomli`` before Python 3.11)."""
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            raise ImportError('reading a TOML spec needs tomli before Python 3.11: '
                              'pip install "fastnet[sweep]"') from None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep spec not found: {path}")
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML: {e}") from None


def parse_spec(spec):
    """Check a spec dict; returns {method, out, n_trials, seed, base, space} with train
    option names (``batch_size``) as keys of ``base`` and ``space``."""
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict (or a TOML file), got {type(spec).__name__}")
    for key in spec:
        checks.choice("spec section", key, SECTIONS)
    head = _table(spec, "sweep")
    for key in head:
        checks.choice("key of [sweep]", key, SWEEP_KEYS)
    tables = [name for name in ("grid", "random") if name in spec]
    method = head.get("method", tables[0] if len(tables) == 1 else None)
    if method is None:
        raise ValueError(f"[sweep] method is missing and the spec has {len(tables)} of the "
                         "tables [grid] and [random]; set method = 'grid' or 'random'")
    method = checks.choice("[sweep] method", method, ("grid", "random"))
    if tables != [method]:
        raise ValueError(f"[sweep] method = {method!r} needs a [{method}] table and no other; "
                         f"the spec has {['[' + t + ']' for t in tables] or 'none'}")
    if method == "grid" and ("n_trials" in head or "seed" in head):
        raise ValueError("[sweep] n_trials and seed apply to method = 'random' only")
    out = head.get("out")
    if out is not None and not isinstance(out, str):
        raise TypeError(f"[sweep] out must be a path string, got {out!r}")
    base = {_dest("[base]", k): v for k, v in _table(spec, "base").items()}
    for key, value in base.items():
        _option_text(f"[base] {key}", key, value)
    space = {}
    for key, values in _table(spec, method).items():
        dest = _dest(f"[{method}]", key)
        if dest in base:
            raise ValueError(f"{dest!r} is both fixed in [base] and swept in [{method}]")
        space[dest] = _values(f"[{method}] {key}", dest, values, method)
    if not space:
        raise ValueError(f"[{method}] is empty; give at least one option to sweep")
    n_trials = seed = None
    if method == "random":
        if "n_trials" not in head:
            raise ValueError("[sweep] n_trials (how many random trials) is missing")
        n_trials = checks.integer("[sweep] n_trials", head["n_trials"], 1)
        seed = checks.seed("[sweep] seed", head.get("seed", 0))
    return dict(method=method, out=out, n_trials=n_trials, seed=seed, base=base, space=space)


def _table(spec, name):
    table = spec.get(name, {})
    if not isinstance(table, dict):
        raise TypeError(f"[{name}] must be a table, got {table!r}")
    return table


def _dest(where, key):
    """The train option (argparse dest) that spec key ``key`` names."""
    from .cli import train_options
    dest = key.replace("-", "_")
    if dest in SET_BY_SWEEP:
        raise ValueError(f"{where}: {key!r} is set by the sweep for every trial (out: "
                         "[sweep] out or --out; threads: one per trial)")
    options = [d for d in train_options() if d not in SET_BY_SWEEP]
    if dest not in options:
        close = difflib.get_close_matches(dest, options, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{where}: unknown train option {key!r}; expected one of "
                         f"{tuple(options)}{hint}")
    return dest


def _option_text(where, dest, value):
    """``value`` as the command-line text of option ``dest``, checked by its parser type."""
    import argparse

    from .cli import train_options
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        text = ",".join(map(str, value))
    elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        raise TypeError(f"{where} must be a number or a string (a list of integers for "
                        f"layers), got {value!r} ({type(value).__name__})")
    action = train_options()[dest]
    try:
        parsed = action.type(text) if action.type else text
    except (argparse.ArgumentTypeError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    if action.choices is not None:
        checks.choice(where, parsed, action.choices)
    return text


def _values(where, dest, values, method):
    """Check one swept option: a non-empty list, or for random {low, high, log}."""
    if method == "random" and isinstance(values, dict):
        for key in values:
            checks.choice(f"key of {where}", key, ("low", "high", "log"))
        if "low" not in values or "high" not in values:
            raise ValueError(f"{where} needs low and high, got {values!r}")
        low = checks.real(f"{where} low", values["low"])
        high = checks.real(f"{where} high", values["high"], low, low_open=True)
        log = checks.boolean(f"{where} log", values.get("log", False))
        if log and low <= 0:
            raise ValueError(f"{where} has log = true, so low must be > 0, got {low}")
        whole = all(isinstance(values[k], int) for k in ("low", "high"))
        for bound in (low, high):
            _option_text(where, dest, int(bound) if whole else bound)
        return dict(low=low, high=high, log=log, whole=whole)
    if not isinstance(values, list):
        extra = " or a table {low, high, log}" if method == "random" else ""
        raise TypeError(f"{where} must be a list of values{extra} (fixed values go in "
                        f"[base]), got {values!r}")
    if not values:
        raise ValueError(f"{where} is an empty list; give at least one value")
    for i, value in enumerate(values):
        _option_text(f"{where}[{i}]", dest, value)
    return list(values)


# ---------------------------------------------------------------- the trials
def expand(spec):
    """The trials of a parsed spec (``parse_spec``): every grid combination, or
    ``n_trials`` random draws (seeded; repeated draws run once)."""
    keys = list(spec["space"])
    if spec["method"] == "grid":
        combos = itertools.product(*(spec["space"][k] for k in keys))
    else:
        rng = np.random.default_rng(spec["seed"])
        combos = ([_draw(rng, spec["space"][k]) for k in keys]
                  for _ in range(spec["n_trials"]))
    trials = {}
    for combo in combos:
        trial = make_trial(spec["base"], dict(zip(keys, combo)))
        trials.setdefault(trial.name, trial)
    return list(trials.values())


def _draw(rng, space):
    if isinstance(space, list):
        return space[int(rng.integers(len(space)))]
    low, high = space["low"], space["high"]
    if space["whole"]:
        if space["log"]:
            return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
        return int(rng.integers(int(low), int(high) + 1))
    x = math.exp(rng.uniform(math.log(low), math.log(high))) if space["log"] else \
        rng.uniform(low, high)
    return float(f"{x:.4g}")


def make_trial(base, params):
    """The Trial of fixed options ``base`` and swept values ``params`` (train option
    names as keys): argv ``--option=value`` and a name from the values plus a hash."""
    from .cli import train_options
    actions = train_options()
    argv = [f"{actions[k].option_strings[0]}={_option_text(k, k, v)}"
            for k, v in {**base, **params}.items()]
    digest = hashlib.sha256("\0".join(sorted(argv)).encode()).hexdigest()[:8]
    label = "-".join(f"{k}{_label(v)}" for k, v in params.items())[:80]
    return Trial(f"{label}-{digest}", dict(params), argv)


def _label(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "_".join(map(str, value))
    return re.sub(r"[^A-Za-z0-9.+]+", "_", str(value)).strip("_")


def finished(directory, trial):
    """The trial's result if ``directory`` holds it finished ok, else None."""
    directory = Path(directory)
    try:
        result = json.loads((directory / RESULT).read_text())
    except (OSError, ValueError):
        return None
    if (isinstance(result, dict) and result.get("status") == "ok"
            and result.get("argv") == trial.argv and (directory / "model.npz").is_file()):
        return result
    return None


# ---------------------------------------------------------------- one trial (in a worker)
def run_trial(directory, argv):
    """Train one trial into ``directory`` on one Numba thread (this runs in a Dask worker).

    Output goes to ``directory/train.log``. Returns the result, also written atomically to
    ``directory/result.json``: status ok/failed, error, exit code, the last epoch's
    val_accuracy and val_loss, test_accuracy and test_loss of model.npz, epochs, seconds.
    """
    from .cli import main
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / RESULT).unlink(missing_ok=True)
    start = time.perf_counter()
    errors = io.StringIO()
    with open(directory / "train.log", "w") as log:
        with redirect_stdout(log), redirect_stderr(errors):
            code = main(["train", *argv, f"--out={directory}", "--force", "--quiet",
                         "--threads=1"])
        log.write(errors.getvalue())
    result = {"status": "ok" if code == 0 else "failed", "exit_code": code, "argv": argv,
              "error": "" if code == 0 else _last_error(errors.getvalue(), code)}
    if code == 0:
        result.update(_metrics(directory))
    result["seconds"] = time.perf_counter() - start
    fio.write_text(directory / RESULT, json.dumps(result, indent=2) + "\n")
    return result


def _last_error(text, code):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    last = (errors or lines or [f"fastnet train exited with status {code}"])[-1]
    return last.removeprefix("fastnet: error: ")


def _metrics(directory):
    from .callbacks import read_history_csv
    from .cli import _mnist, _targets
    from .io import load
    history = read_history_csv(directory / "history.csv")
    last = {k: (v[-1] if v else math.nan) for k, v in history.items()}
    net = load(directory / "model.npz")
    _, _, X_test, y_test = _mnist()
    test = net.evaluate(X_test, _targets(net, y_test))
    return {"val_accuracy": last.get("val_accuracy", math.nan),
            "val_loss": last.get("val_loss", math.nan),
            "test_accuracy": test.get("accuracy", math.nan), "test_loss": test["loss"],
            "epochs": len(history.get("epoch", []))}


# ---------------------------------------------------------------- the sweep
def sweep(spec, out=None, scheduler=None, client=None, workers=None, progress=True,
          verbose=True):
    """Run every trial of ``spec`` (a TOML path or a dict) not yet finished in its folder.

    By default a ``dask.distributed.LocalCluster`` with ``workers`` processes (default one
    per core), one thread each, runs the trials; ``scheduler="tcp://HOST:PORT"`` submits
    to an existing cluster and ``client`` uses a ``dask.distributed.Client`` you made
    (trial folders must then be on a file system the workers share, at the same path).
    ``out`` overrides ``[sweep] out``. Writes OUT/results.csv and OUT/sweep.png, prints the
    table (``verbose``), shows a progress bar (``progress``, needs tqdm) and returns the
    rows: dicts sorted by validation accuracy, failed trials last.
    """
    if scheduler is not None and client is not None:
        raise ValueError("give scheduler or client, not both")
    if workers is not None:
        workers = checks.integer("workers", workers, 1)
    out, parsed, trials = plan(spec, out)
    earlier = {t.name: finished(out / t.name, t) for t in trials}
    todo = [t for t in trials if earlier[t.name] is None]
    say = _printer(verbose)
    say(f"sweep {out}: {len(trials)} trials ({parsed['method']} over "
        f"{', '.join(parsed['space'])}), {len(trials) - len(todo)} finished earlier, "
        f"{len(todo)} to run")
    results = {t.name: dict(r, reused=True) for t in trials if (r := earlier[t.name])}
    if todo:
        with _connect(scheduler, client, workers or _cores(), len(todo), say) as dask_client:
            for trial, result in _run_trials(dask_client, out, todo, run_trial, progress,
                                             say):
                results[trial.name] = dict(result, reused=False)
    rows = sorted((_row(t, results[t.name]) for t in trials), key=_rank)
    keys = list(parsed["space"])
    fio.write_text(out / "results.csv", results_csv(rows, keys))
    say(format_table(rows, keys))
    written = [out / "results.csv", _plot(rows, keys, parsed, out / "sweep.png", say)]
    say("wrote " + " ".join(str(p) for p in written if p))
    return rows


def plan(spec, out=None):
    """(sweep folder, parsed spec, trials) of ``spec`` (a TOML path or a dict)."""
    source = None
    if not isinstance(spec, dict):
        source, spec = Path(spec), load_spec(spec)
    parsed = parse_spec(spec)
    out = out or parsed["out"] or (Path("runs") / source.stem if source else None)
    if out is None:
        raise ValueError("the sweep folder is not set: give out=... or [sweep] out")
    return Path(out).absolute(), parsed, expand(parsed)


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1


@contextmanager
def _connect(scheduler, client, workers, n_trials, say):
    """A Dask client: ``client`` itself, one connected to ``scheduler``, or one on a new
    LocalCluster (closed on exit) whose workers get no task retried after a crash."""
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError(NEEDS_DASK) from None
    if client is not None:
        yield client
        return
    if scheduler is not None:
        with Client(scheduler) as remote:
            say(f"on the Dask cluster at {scheduler} "
                f"({sum(remote.nthreads().values())} threads)")
            yield remote
        return
    import logging
    n = min(workers, n_trials)
    settings = {"distributed.scheduler.allowed-failures": 0,
                "distributed.scheduler.worker-saturation": 1.0}
    with dask.config.set(settings):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.CRITICAL,
                               env={"NUMBA_NUM_THREADS": "1"})
    say(f"on a local Dask cluster: {n} workers, 1 thread each")
    with cluster, Client(cluster) as local:
        yield local


def _run_trials(client, out, todo, fn, progress, say):
    """Yield (trial, result) as ``fn(folder, argv)`` finishes on the cluster, keeping at
    most one trial per worker thread in flight (so a dying worker takes only its own
    trial with it). An exception or a dead worker becomes a failed result."""
    from dask.distributed import as_completed
    pending, flight, done = list(todo), {}, as_completed()
    bar = _bar(len(todo)) if progress else None
    failed = 0

    def refill():
        slots = max(1, sum(client.nthreads().values()))
        while pending and len(flight) < slots:
            trial = pending.pop(0)
            future = client.submit(fn, str(out / trial.name), trial.argv, pure=False)
            flight[future] = trial
            done.add(future)

    refill()
    try:
        for future in done:
            trial = flight.pop(future)
            try:
                result = future.result()
            except Exception as e:  # raised in the trial, or KilledWorker
                result = _crashed(out / trial.name, trial, e)
            future.release()
            failed += result["status"] != "ok"
            line = (f"ok      {trial.name}  val_acc {_pct(result.get('val_accuracy'))}  "
                    f"{result['seconds']:.1f} s" if result["status"] == "ok" else
                    f"failed  {trial.name}  {result['error']}")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=failed)
            say(line, bar)
            refill()
            yield trial, result
    finally:
        for future in flight:
            future.cancel()
        if bar is not None:
            bar.close()


def _bar(total):
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="trial", desc="trials", file=sys.stderr, dynamic_ncols=True)


def _crashed(directory, trial, error):
    from dask.distributed import KilledWorker
    text = (f"the worker died while running the trial ({type(error).__name__})"
            if isinstance(error, KilledWorker) else f"{type(error).__name__}: {error}")
    result = {"status": "failed", "exit_code": None, "argv": trial.argv, "error": text,
              "seconds": math.nan}
    with suppress(OSError):  # a folder only the workers see: the table still has it
        fio.write_text(Path(directory) / RESULT, json.dumps(result, indent=2) + "\n")
    return result


def _printer(verbose):
    def say(text, bar=None):
        if verbose:
            (bar.write if bar is not None else print)(text)
    return say


# ---------------------------------------------------------------- results
def _row(trial, result):
    row = {"trial": trial.name, "status": result.get("status", "failed"), **trial.params}
    for key in METRICS:
        value = result.get(key)
        row[key] = math.nan if value is None else value
    row.update(reused=bool(result.get("reused")), error=result.get("error") or "")
    return row


def _rank(row):
    acc = row["val_accuracy"]
    return (row["status"] != "ok", -acc if math.isfinite(acc) else math.inf, row["trial"])


def results_csv(rows, keys):
    """The rows as CSV text: trial, status, the swept options, METRICS, reused, error."""
    columns = ["trial", "status", *keys, *METRICS, "reused", "error"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if isinstance(row[c], float) and math.isnan(row[c]) else
                         _text(row[c]) for c in columns])
    return text.getvalue()


def _text(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return value


def _pct(value):
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.2f}%"


def _num(value, spec):
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def format_table(rows, keys):
    """The results as an aligned text table, best validation accuracy first."""
    header = ["#", *keys, "val_acc", "val_loss", "test_acc", "seconds", "trial"]
    lines = []
    for i, row in enumerate(rows, 1):
        ok = row["status"] == "ok"
        lines.append([str(i) if ok else "-", *(str(_text(row[k])) for k in keys),
                      _pct(row["val_accuracy"]), _num(row["val_loss"], ".4f"),
                      _pct(row["test_accuracy"]), _num(row["seconds"], ".1f"),
                      row["trial"] + ("" if ok else f"  FAILED: {row['error']}")])
    widths = [max(len(r[c]) for r in [header, *lines]) for c in range(len(header) - 1)]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths)) + "  " + r[-1]
                     for r in [header, *lines])


def _plot(rows, keys, parsed, path, say):
    """sweep.png (validation accuracy against each swept option), or None without
    matplotlib or without a finished trial."""
    from .plots import plot_sweep
    ok = [r for r in rows if r["status"] == "ok" and math.isfinite(r["val_accuracy"])]
    if not ok:
        say("no trial finished with a validation accuracy: no sweep.png")
        return None
    space = parsed["space"]
    log = {k for k, v in space.items() if isinstance(v, dict) and v["log"]}
    order = {k: [_text(x) for x in v] for k, v in space.items() if isinstance(v, list)}
    try:
        return plot_sweep(ok, keys, path, log=log, order=order)
    except ImportError as e:
        say(f"no sweep.png: {e}")
        return None
