"""Sweeps: spec checks and trial expansion (no cluster), then real sweeps on a
LocalCluster of 2 worker processes on a small MNIST slice."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fastnet as fn
from fastnet import sweeps
from fastnet.cli import main

ROOT = Path(__file__).resolve().parents[1]
BASE = {"epochs": 2, "limit": 1000, "batch_size": 32, "validation_split": 0.1}
PNG = b"\x89PNG\r\n\x1a\n"


def spec(grid=None, base=BASE, **head):
    return {"sweep": {"method": "grid", **head}, "base": dict(base),
            "grid": grid or {"lr": [0.05, 0.2], "layers": ["784,16,10", "784,8,10"]}}


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---------------------------------------------------------------- spec and trials
def test_grid_gives_every_combination_with_stable_names():
    trials = sweeps.expand(sweeps.parse_spec(spec()))
    assert [t.params for t in trials] == [
        {"lr": 0.05, "layers": "784,16,10"}, {"lr": 0.05, "layers": "784,8,10"},
        {"lr": 0.2, "layers": "784,16,10"}, {"lr": 0.2, "layers": "784,8,10"}]
    assert trials[0].name.startswith("lr0.05-layers784_16_10-")
    assert trials[0].argv == ["--epochs=2", "--limit=1000", "--batch-size=32",
                              "--validation-split=0.1", "--lr=0.05", "--layers=784,16,10"]
    assert len({t.name for t in trials}) == 4
    # the same options in another order name the same folders; other base options do not
    reordered = dict(reversed(list(BASE.items())))
    assert [t.name for t in sweeps.expand(sweeps.parse_spec(spec(base=reordered)))] == \
        [t.name for t in trials]
    other = sweeps.expand(sweeps.parse_spec(spec(base=dict(BASE, epochs=3))))
    assert not {t.name for t in other} & {t.name for t in trials}


def test_layers_may_be_integer_lists_and_dashed_keys_work():
    trials = sweeps.expand(sweeps.parse_spec(spec(
        base={"batch-size": 64}, grid={"layers": [[784, 32, 10]], "optimizer": ["adam"]})))
    assert trials[0].argv == ["--batch-size=64", "--layers=784,32,10", "--optimizer=adam"]
    assert trials[0].name.startswith("layers784_32_10-optimizeradam-")


def test_random_draws_are_seeded_within_bounds_and_typed():
    s = {"sweep": {"method": "random", "n_trials": 30, "seed": 7},
         "random": {"lr": {"low": 1e-3, "high": 0.3, "log": True},
                    "batch_size": {"low": 16, "high": 256},
                    "activation": ["relu", "tanh"]}}
    trials = sweeps.expand(sweeps.parse_spec(s))
    assert trials == sweeps.expand(sweeps.parse_spec(s))
    assert 20 < len(trials) <= 30   # repeated draws would run once
    lrs = [t.params["lr"] for t in trials]
    sizes = [t.params["batch_size"] for t in trials]
    assert all(1e-3 <= v <= 0.3 and float(f"{v:.4g}") == v for v in lrs)
    assert sum(v < 0.0173 for v in lrs) > 5     # log-uniform: half below the geometric mean
    assert all(isinstance(v, int) and 16 <= v <= 256 for v in sizes)
    assert {t.params["activation"] for t in trials} == {"relu", "tanh"}
    other = sweeps.expand(sweeps.parse_spec({**s, "sweep": dict(s["sweep"], seed=8)}))
    assert [t.params for t in other] != [t.params for t in trials]


@pytest.mark.parametrize("bad, error, message", [
    ({"sweep": {"method": "grdi"}, "grid": {"lr": [0.1]}}, ValueError,
     "unknown [sweep] method 'grdi'; expected one of ('grid', 'random'); did you mean 'grid'"),
    ({"grid": {"learning_rate": [0.1]}}, ValueError,
     "[grid]: unknown train option 'learning_rate'"),
    ({"grid": {"lr": []}}, ValueError, "[grid] lr is an empty list"),
    ({"grid": {"lr": 0.1}}, TypeError, "[grid] lr must be a list of values"),
    ({"grid": {"lr": ["fast"]}}, ValueError, "[grid] lr[0]: could not convert string"),
    ({"grid": {"optimizer": ["sgdd"]}}, ValueError, "did you mean 'sgd'"),
    ({"grid": {"layers": ["784"]}}, ValueError,
     "[grid] layers[0]: expected at least two comma-separated sizes"),
    ({"grid": {"layers": ["784,,10"]}}, ValueError, "[grid] layers[0]: size 2 of '784,,10' is empty"),
    ({"grid": {"lr": [float("nan")]}}, ValueError, "[grid] lr[0]: expected a finite number > 0"),
    ({"grid": {"epochs": [True]}}, TypeError, "[grid] epochs[0] must be a number or a string"),
    ({"base": {"out": "x"}, "grid": {"lr": [0.1]}}, ValueError, "'out' is set by the sweep"),
    ({"base": {"threads": 2}, "grid": {"lr": [0.1]}}, ValueError, "'threads' is set by"),
    ({"base": {"lr": 0.1}, "grid": {"lr": [0.2]}}, ValueError, "both fixed in [base] and swept"),
    ({"grid": {}}, ValueError, "[grid] is empty"),
    ({"sweep": {"method": "random"}, "grid": {"lr": [0.1]}}, ValueError,
     "method = 'random' needs a [random] table"),
    ({"random": {"lr": [0.1]}}, ValueError, "[sweep] n_trials (how many random trials)"),
    ({"sweep": {"n_trials": 3}, "grid": {"lr": [0.1]}}, ValueError, "apply to method"),
    ({"sweep": {"n_trials": 0}, "random": {"lr": [0.1]}}, ValueError, "n_trials must be"),
    ({"sweep": {"n_trials": 2}, "random": {"lr": {"low": 0, "high": 1, "log": True}}},
     ValueError, "[random] lr has log = true, so low must be > 0"),
    ({"sweep": {"n_trials": 2}, "random": {"lr": {"low": 1, "high": 0.5}}},
     ValueError, "[random] lr high must be a finite number > 1"),
    ({"sweep": {"n_trials": 2}, "random": {"lr": {"low": 1, "hi": 2}}}, ValueError,
     "unknown key of [random] lr 'hi'"),
    ({"grid": {"lr": [0.1]}, "params": {}}, ValueError, "unknown spec section 'params'"),
    ({"grid": {"lr": [0.1]}, "random": {"lr": [0.1]}}, ValueError, "[sweep] method is missing"),
    ({"sweep": {"out": 3}, "grid": {"lr": [0.1]}}, TypeError, "[sweep] out must be a path"),
    ([("grid", {})], TypeError, "spec must be a dict"),
])
def test_spec_errors_name_the_key(bad, error, message):
    with pytest.raises(error) as info:
        sweeps.parse_spec(bad)
    assert message in str(info.value)


def test_toml_file_errors_and_default_folder(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="sweep spec not found"):
        sweeps.load_spec(tmp_path / "missing.toml")
    (tmp_path / "bad.toml").write_text("[grid\nlr = 1\n")
    with pytest.raises(ValueError, match="bad.toml: not valid TOML"):
        sweeps.load_spec(tmp_path / "bad.toml")
    (tmp_path / "lrs.toml").write_text('[grid]\nlr = [0.1, 0.2]\n')
    monkeypatch.chdir(tmp_path)
    out, parsed, trials = sweeps.plan(tmp_path / "lrs.toml")
    assert out == tmp_path / "runs" / "lrs" and parsed["method"] == "grid"
    assert len(trials) == 2
    with pytest.raises(ValueError, match="the sweep folder is not set"):
        sweeps.plan({"grid": {"lr": [0.1]}})


def test_dry_run_lists_the_trials(tmp_path, capsys):
    (tmp_path / "s.toml").write_text('[sweep]\nout = "o"\n[base]\nepochs = 1\n'
                                     '[grid]\nseed = [0, 1, 2]\n')
    assert main(["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"),
                 "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(line.split()[:2] == ["to", "run"] for line in lines)
    assert f"{tmp_path / 'o'}/seed1-" in lines[1] and "--epochs=1 --seed=1" in lines[1]
    assert not (tmp_path / "o").exists()


def test_fastnet_imports_without_dask_and_sweep_says_how_to_get_it(tmp_path):
    code = ("import sys; sys.modules['dask'] = None; import fastnet, fastnet.cli, "
            "fastnet.sweeps\n"
            "try:\n"
            f"    fastnet.sweep({{'grid': {{'lr': [0.1]}}}}, out={str(tmp_path)!r})\n"
            "except ImportError as e:\n"
            "    print(e)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'needs Dask distributed: pip install "fastnet[sweep]"' in proc.stdout


# ---------------------------------------------------------------- on a LocalCluster
def test_four_trials_on_two_workers(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text('[sweep]\nmethod = "grid"\n'
                    '[base]\nepochs = 2\nlimit = 1000\nbatch_size = 32\n'
                    'validation_split = 0.1\n'
                    '[grid]\nlr = [0.05, 0.2]\nlayers = ["784,16,10", "784,8,10"]\n')
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "2",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "4 trials (grid over lr, layers), 0 finished earlier, 4 to run" in text
    assert "local Dask cluster: 2 workers, 1 thread each" in text
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(folders) == 4
    for folder in folders:
        assert {"config.json", "history.csv", "model.npz", "result.json"} <= \
            {p.name for p in folder.iterdir()}
        assert json.loads((folder / "config.json").read_text())["threads"] == 1
    rows = read_csv(out / "results.csv")
    assert [r["status"] for r in rows] == ["ok"] * 4
    assert {r["trial"] for r in rows} == {p.name for p in folders}
    accs = [float(r["val_accuracy"]) for r in rows]
    assert accs == sorted(accs, reverse=True) and min(accs) > 0.3
    assert all(0.3 < float(r["test_accuracy"]) <= 1 and r["epochs"] == "2" for r in rows)
    lines = text.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.lstrip().startswith("#")):]
    assert [line.split()[-1] for line in table[1:5]] == [r["trial"] for r in rows]
    assert table[1].split()[0] == "1" and f"{100 * accs[0]:.2f}%" in table[1]
    assert (out / "sweep.png").read_bytes()[:8] == PNG
    assert f"wrote {out / 'results.csv'} {out / 'sweep.png'}" in text


def test_failed_trial_is_recorded_and_a_rerun_completes_only_what_is_missing(tmp_path):
    s = spec(grid={"layers": ["784,16,10", "784,8,10", "100,16,10"]})
    first = fn.sweep(s, out=tmp_path, workers=2, progress=False, verbose=False)
    assert [r["status"] for r in first] == ["ok", "ok", "failed"]
    bad = first[2]
    assert bad["layers"] == "100,16,10" and not bad["reused"]
    assert bad["error"] == "--layers must start with 784 (MNIST pixels), got 100"
    assert json.loads((tmp_path / bad["trial"] / "result.json").read_text())["status"] == \
        "failed"
    kept, lost = first[0]["trial"], first[1]["trial"]
    for p in (tmp_path / lost).iterdir():
        p.unlink()
    (tmp_path / lost).rmdir()
    stamp = {p.name: p.stat().st_mtime_ns for p in (tmp_path / kept).iterdir()}

    again = fn.sweep(s, out=tmp_path, workers=2, progress=False, verbose=False)
    by_name = {r["trial"]: r for r in again}
    assert by_name[kept]["reused"] and by_name[kept]["val_accuracy"] == first[0]["val_accuracy"]
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / kept).iterdir()} == stamp
    assert by_name[lost]["status"] == "ok" and not by_name[lost]["reused"]
    assert (tmp_path / lost / "model.npz").is_file()
    assert by_name[bad["trial"]]["status"] == "failed" and not by_name[bad["trial"]]["reused"]
    rows = {r["trial"]: r for r in read_csv(tmp_path / "results.csv")}
    assert (rows[kept]["reused"], rows[lost]["reused"], rows[bad["trial"]]["reused"]) == \
        ("1", "0", "0")
    assert rows[bad["trial"]]["error"] == bad["error"]


def test_a_trial_that_raises_or_kills_its_worker_fails_alone(tmp_path):
    def trial(directory, argv):
        if argv == ["die"]:
            os._exit(3)
        if argv == ["raise"]:
            raise RuntimeError("no such luck")
        return {"status": "ok", "seconds": 0.0, "argv": argv, "val_accuracy": 0.5}

    todo = [sweeps.Trial(name, {}, [name]) for name in ("die", "raise", "fine", "fine2")]
    say = sweeps._printer(False)
    with sweeps._connect(None, None, 2, len(todo), say) as client:
        results = {t.name: r for t, r in sweeps._run_trials(client, tmp_path, todo, trial,
                                                            False, say)}
    assert results["die"]["status"] == "failed"
    assert "worker died while running the trial (KilledWorker)" in results["die"]["error"]
    assert results["raise"]["error"] == "RuntimeError: no such luck"
    assert results["fine"]["status"] == results["fine2"]["status"] == "ok"
    recorded = json.loads((tmp_path / "die" / "result.json").read_text())
    assert recorded["status"] == "failed" and recorded["argv"] == ["die"]


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    import dask
    (tmp_path / "s.toml").write_text('[grid]\nlr = [0.1]\n')
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["sweep", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"),
                     "--scheduler", "tcp://127.0.0.1:1", "--quiet"])
    assert code == 1
    assert "error: cannot reach the Dask scheduler at tcp://127.0.0.1:1" in \
        capsys.readouterr().err
