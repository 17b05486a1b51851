"""Hyper-parameter sweeps on Dask distributed: ``fastnet sweep SPEC.toml`` or ``fastnet.sweep``.

The spec (grid or random search over any ``fastnet train`` option) is described in
``fastnet.sweepspec``. Each trial runs ``fastnet.runs.train`` of its options into
OUT/NAME, quietly on one Numba thread, in a Dask worker; by default the workers are a
``LocalCluster`` on this machine, one process per core with one thread each. A trial
folder holds the run (``config.json``, ``history.csv``, ``model.npz``, ...), ``train.log``
and, written atomically last, ``result.json``; a folder whose result says ``ok`` is
finished and is skipped when the sweep runs again. A trial that fails (train returns an
error, raises, or its worker dies) is recorded as failed and tried again by the next run.
The sweep folder gets ``results.csv`` (sorted by validation accuracy) and ``sweep.png``.

Dask is imported only when trials run: ``pip install "fastnet[sweep]"``.
"""
import csv
import io
import json
import logging
import math
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout, suppress
from pathlib import Path

from . import checks, runs
from . import io as fio
from .callbacks import read_history_csv
from .plots import plot_sweep
from .sweepspec import Trial, expand, load_spec, make_trial, parse_spec

__all__ = ["sweep", "plan", "run_trial", "finished", "results_csv", "format_table", "Trial",
           "expand", "load_spec", "make_trial", "parse_spec"]
RESULT = "result.json"
METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "epochs", "seconds")
NEEDS_DASK = 'fastnet sweep needs Dask distributed: pip install "fastnet[sweep]"'
CONNECT_TIMEOUT = 10
"""Seconds to reach a Dask scheduler (``--scheduler``) before giving up with an error."""
_ONE_TRIAL = threading.Lock()


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
    A worker process trains one trial at a time (the output redirection and Numba's
    default threading layer are per process), so give workers one thread each
    (``dask worker ADDRESS --nworkers N --nthreads 1``).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / RESULT).unlink(missing_ok=True)
    start = time.perf_counter()
    errors = io.StringIO()
    with _ONE_TRIAL, open(directory / "train.log", "w") as log:
        with redirect_stdout(log), redirect_stderr(errors):
            try:
                code = runs.train(runs.parse_argv(argv), out=directory, threads=1,
                                  force=True, quiet=True)
            except (runs.RunError, ValueError, TypeError, OSError, ImportError) as e:
                print(f"fastnet: error: {e}", file=sys.stderr)
                code = 1
        log.write(errors.getvalue())
    result = {"status": "ok" if code == 0 else "failed", "exit_code": code, "argv": argv,
              "error": "" if code == 0 else _last_error(errors.getvalue(), code)}
    if code == 0:
        result.update(_metrics(directory))
    result["seconds"] = time.perf_counter() - start
    fio.write_text(directory / RESULT, json.dumps(result, indent=2) + "\n")
    return result


def _last_error(text, code):
    """The error line of train's stderr, without the 'fastnet: error: ' prefix."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line]
    last = (errors or lines or [f"fastnet train exited with status {code}"])[-1]
    return last.removeprefix("fastnet: error: ")


def _metrics(directory):
    """Last-epoch validation metrics from history.csv, test metrics from test.json (NaN
    when the run had no test set)."""
    history = read_history_csv(directory / "history.csv")
    last = {k: (v[-1] if v else math.nan) for k, v in history.items()}
    try:   # the test set the run evaluated once, at its end; none without a test set
        test = json.loads((directory / "test.json").read_text())
    except (OSError, ValueError):
        test = {}
    return {"val_accuracy": last.get("val_accuracy", math.nan),
            "val_loss": last.get("val_loss", math.nan),
            "test_accuracy": test.get("accuracy", math.nan),
            "test_loss": test.get("loss", math.nan),
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
    runs.check_out(out)
    with runs.claim(out, "sweep"):
        return _sweep(out, parsed, trials, scheduler, client, workers, progress, verbose)


def _sweep(out, parsed, trials, scheduler, client, workers, progress, verbose):
    """``sweep`` in its claimed folder ``out``."""
    earlier = {t.name: finished(out / t.name, t) for t in trials}
    todo = [t for t in trials if earlier[t.name] is None]
    say = _printer(verbose)
    say(f"sweep {shown(out)}: {len(trials)} trials ({parsed['method']} over "
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
    say("wrote " + " ".join(shown(p) for p in written if p))
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


def shown(path):
    """``path`` relative to the working directory when it is inside it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _cores():
    """Cores this process may use (one local worker each)."""
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
        try:
            remote = _client_within(Client, scheduler, CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as e:   # refused, or not a Dask scheduler
            raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler} within "
                                  f"{CONNECT_TIMEOUT} s (is it one? a dashboard or other "
                                  f"port answers but is not): {type(e).__name__}: {e}") \
                from None
        with remote:
            say(f"on the Dask cluster at {scheduler} "
                f"({sum(remote.nthreads().values())} threads)")
            yield remote
        return
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


def _client_within(Client, address, seconds):
    """``Client(address)``, or TimeoutError after ``seconds``. Dask's own timeouts do not
    cover a server that accepts the connection and never answers the handshake (an HTTP
    port, say), so the client is made in a daemon thread that is abandoned on timeout."""
    import dask
    host, sep, port = address.removeprefix("tcp://").rpartition(":")
    if address.startswith("tcp://") and sep and port.isdigit():   # refused: at once
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
    made = {}

    def make():
        try:
            with dask.config.set({"distributed.comm.timeouts.connect": f"{seconds}s"}):
                made["client"] = Client(address, timeout=f"{seconds}s")
        except BaseException as e:       # handed to the caller's thread
            made["error"] = e

    thread = threading.Thread(target=make, name="fastnet-dask-connect", daemon=True)
    thread.start()
    thread.join(seconds + 1)
    if "error" in made:
        raise made["error"]
    if "client" not in made:
        raise TimeoutError(f"no answer to the Dask handshake in {seconds} s")
    return made["client"]


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
    """A tqdm bar over the trials, or None without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="trial", desc="trials", file=sys.stderr, dynamic_ncols=True)


def _crashed(directory, trial, error):
    """The failed result of a trial whose future raised; recorded in its folder."""
    from dask.distributed import KilledWorker
    text = (f"the worker died while running the trial ({type(error).__name__})"
            if isinstance(error, KilledWorker) else f"{type(error).__name__}: {error}")
    result = {"status": "failed", "exit_code": None, "argv": trial.argv, "error": text,
              "seconds": math.nan}
    with suppress(OSError):  # a folder only the workers see: the table still has it
        fio.write_text(Path(directory) / RESULT, json.dumps(result, indent=2) + "\n")
    return result


def _printer(verbose):
    """say(text, bar=None): print (above the progress bar) when ``verbose``."""
    def say(text, bar=None):
        if verbose:
            (bar.write if bar is not None else print)(text)
    return say


# ---------------------------------------------------------------- results
def _row(trial, result):
    """One row of the results table: trial, status, swept values, METRICS, reused, error."""
    row = {"trial": trial.name, "status": result.get("status", "failed"), **trial.params}
    for key in METRICS:
        value = result.get(key)
        row[key] = math.nan if value is None else value
    row.update(reused=bool(result.get("reused")), error=result.get("error") or "")
    return row


def _rank(row):
    """Sort key: finished trials first, best validation accuracy first."""
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
    """A cell value for CSV and the table (layers lists as '784,16,10')."""
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
                      row["trial"] + ("" if ok else f"  FAILED: {_short(row['error'])}")])
    widths = [max(len(r[c]) for r in [header, *lines]) for c in range(len(header) - 1)]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths)) + "  " + r[-1]
                     for r in [header, *lines])


def _short(text, width=60):
    """``text`` cut to ``width`` characters (the table; results.csv keeps it whole)."""
    return text if len(text) <= width else text[:width - 3] + "..."


def _plot(rows, keys, parsed, path, say):
    """sweep.png (validation accuracy against each swept option), or None without
    matplotlib or without a finished trial."""
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
