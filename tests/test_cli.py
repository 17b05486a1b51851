"""The command line end to end, through subprocesses, on small MNIST slices."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastnet as fn
from fastnet.cli import main

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--limit", "1500", "--layers", "784,32,10", "--epochs", "2", "--threads", "1"]
# long enough (about 0.3 s an epoch) to be interrupted inside an epoch
LONGER = ["--limit", "6000", "--layers", "784,128,10", "--batch-size", "16", "--epochs", "3",
          "--activation", "rrelu", "--lr", "0.02", "--threads", "1", "--seed", "4"]


def fastnet(*args, check=True):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "fastnet", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def start(*args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "fastnet", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = fastnet("train", *SMALL, "--out", out)
    return out, proc


def test_train_writes_the_run_folder(run):
    out, proc = run
    assert sorted(p.name for p in out.iterdir()) == [
        ".lock", "best.npz", "checkpoint.npz", "config.json", "history.csv", "model.npz",
        "test.json", "timing.json"]
    assert set(json.loads((out / "timing.json").read_text())) == {"compile_seconds"}
    with open(out / "history.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0][:6] == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "seconds"]
    assert [r[0] for r in rows[1:]] == ["1", "2"]
    assert all(float(v) > 0 for r in rows[1:] for v in r[1:6])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["layers"] == [784, 32, 10] and cfg["limit"] == 1500 and cfg["lr"] == 0.1
    assert cfg["threads"] == 1 and cfg["optimizer"] == "momentum" and cfg["momentum"] == 0.9
    assert cfg["weight_decay"] == 2e-4 and cfg["schedule"] == "cosine" and cfg["beta1"] is None
    assert "optimizer momentum SGD(lr=0.1, weight_decay=0.0002, momentum=0.9" in proc.stdout
    assert "epoch 2/2" in proc.stdout and "test accuracy" in proc.stdout
    test = json.loads((out / "test.json").read_text())   # the test set, once, at the end
    assert f"test accuracy {100 * test['accuracy']:.2f}%" in proc.stdout
    assert float(rows[-1][4]) != test["accuracy"] and test["accuracy"] > 0.7


def test_evaluate(run):
    out, _ = run
    proc = fastnet("evaluate", out / "model.npz", "--limit", "2000")
    text = proc.stdout
    assert "2000 MNIST test images" in text and "precision" in text and "recall" in text
    net = fn.load(out / "model.npz")
    (_, _), (Xt, yt) = fn.load_mnist()
    acc = net.evaluate(Xt[:2000], yt[:2000])["accuracy"]
    assert f"accuracy {100 * acc:.2f}%" in text
    matrix = text.split("columns: predicted)")[1].strip().splitlines()[1:]
    counts = np.array([[int(v) for v in line.split()[1:]] for line in matrix])
    assert counts.shape == (10, 10) and counts.sum() == 2000
    assert np.trace(counts) == round(acc * 2000)


def test_predict_images_and_npy(run, tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    out, _ = run
    net = fn.load(out / "model.npz")
    (_, _), (Xt, yt) = fn.load_mnist()
    proba = net.predict_proba(Xt[:200])
    # digits the model gets right with confidence
    good = [i for i in range(200) if proba[i].argmax() == yt[i] and proba[i].max() > 0.95][:3]
    files = []
    for k, i in enumerate(good):
        img = PIL.fromarray(255 - Xt[i].reshape(28, 28))        # dark ink on white paper
        img = img.resize((140 + 30 * k, 140), PIL.BILINEAR).convert("RGB")
        files.append(tmp_path / f"digit{k}.{'png' if k % 2 == 0 else 'jpg'}")
        img.save(files[-1])
    np.save(tmp_path / "batch.npy", Xt[good].reshape(-1, 28, 28))
    proc = fastnet("predict", out, *files, tmp_path / "batch.npy")
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 2 * len(good)
    predicted = [int(line.split(":")[1].split()[0]) for line in lines]
    assert predicted == [int(yt[i]) for i in good] * 2
    probs = [float(tok.split(":")[1]) for tok in lines[0].split()[3:]]
    assert len(probs) == 10 and abs(sum(probs) - 1) < 0.01


def test_predict_bad_input_is_a_clear_error(run, tmp_path):
    out, _ = run
    (tmp_path / "notes.png").write_text("not an image")
    proc = fastnet("predict", out / "model.npz", tmp_path / "notes.png", check=False)
    assert proc.returncode == 1 and "notes.png" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_plot_writes_pngs(run, tmp_path):
    pytest.importorskip("matplotlib")
    out, _ = run
    proc = fastnet("plot", out, "--out", tmp_path, "--limit", "1000")
    for name in ("loss.png", "accuracy.png", "confusion.png", "misclassified.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
        assert name in proc.stdout


def test_corrupted_model_is_a_clear_cli_error(run, tmp_path):
    out, _ = run
    raw = bytearray((out / "model.npz").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    (tmp_path / "bad.npz").write_bytes(bytes(raw))
    proc = fastnet("evaluate", tmp_path / "bad.npz", check=False)
    assert proc.returncode == 1 and "bad.npz" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- interrupt and resume
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    fastnet("train", *LONGER, "--out", out, "--quiet")
    return out


def wait_for(path, proc, timeout=120):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout
        time.sleep(0.02)


def assert_same_run(a, b):
    np.testing.assert_array_equal(fn.load(a / "model.npz").params,
                                  fn.load(b / "model.npz").params)
    cols = slice(0, 5)   # epoch, loss, accuracy, val_loss, val_accuracy (not seconds)
    ra = [r[cols] for r in csv.reader(open(a / "history.csv"))]
    rb = [r[cols] for r in csv.reader(open(b / "history.csv"))]
    assert ra == rb


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_killed_run_is_loadable_and_resume_equals_uninterrupted(reference, tmp_path, sig):
    out = tmp_path / "run"
    proc = start("train", *LONGER, "--out", out, "--no-progress")
    wait_for(out / "checkpoint.npz", proc)      # epoch 1 finished; epoch 2 running
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    if sig != signal.SIGKILL:   # Ctrl-C and SIGTERM: a checkpoint of the current position
        assert proc.returncode == 128 + sig, stderr
        assert f"interrupted by {sig.name} in epoch 2/3" in stderr
        assert f"fastnet resume {out}" in stderr
        assert fn.load(out / "checkpoint.npz", return_meta=True)[1]["training"]["position"] > 0
    else:
        assert proc.returncode == -signal.SIGKILL
    net, meta, _ = fn.load(out / "checkpoint.npz", return_meta=True)
    assert np.isfinite(net.params).all() and meta["training"]["epoch"] >= 1
    assert not list(out.glob(".*.tmp")) or sig == signal.SIGKILL
    resumed = fastnet("resume", out, "--no-progress")
    assert "resuming" in resumed.stdout and "epoch 3/3" in resumed.stdout
    assert_same_run(reference, out)


def test_resume_of_a_finished_run_does_nothing(run):
    out, _ = run
    proc = fastnet("resume", out)
    assert "already finished" in proc.stdout


# ---------------------------------------------------------------- in-process main()
def test_main_returns_exit_codes(tmp_path, capsys, run):
    assert main(["--help"]) == 0
    assert main(["train", "--bogus"]) == 2
    assert main(["train", "--layers", "784,10,3", "--out", str(tmp_path / "x")]) == 1
    assert "must end with 10" in capsys.readouterr().err
    assert main(["resume", str(tmp_path / "missing")]) == 1
    assert main(["train", "--out", str(run[0])]) == 1          # never overwrite a run
    assert "fastnet resume" in capsys.readouterr().err
    assert main(["train", "--activation", "nope", "--out", str(tmp_path / "y")]) == 2
    assert "fastnet: error: --activation: unknown activation 'nope'" in \
        capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["--layers", "784,,10"], "--layers: size 2 of '784,,10' is empty"),
    (["--layers", "784,0,10"], "--layers: size 2 of '784,0,10': expected an integer >= 1"),
    (["--layers", "784,-5,10"], "--layers: size 2 of '784,-5,10': expected an integer >= 1"),
    (["--layers", "784,2.5,10"], "--layers: size 2 of '784,2.5,10': expected an integer"),
    (["--layers", "784"], "--layers: expected at least two comma-separated sizes"),
    (["--lr", "nan"], "--lr: expected a finite number > 0, got nan"),
    (["--lr", "0"], "--lr: expected a finite number > 0, got 0"),
    (["--lr", "fast"], "--lr: could not convert string to float: 'fast'"),
    (["--momentum", "1"], "--momentum: expected a finite number in [0, 1), got 1"),
    (["--weight-decay", "-1"], "--weight-decay: expected a finite number >= 0"),
    (["--eps", "inf"], "--eps: expected a finite number > 0, got inf"),
    (["--epochs", "-1"], "--epochs: expected an integer >= 0, got -1"),
    (["--epochs", "2.0"], "--epochs: expected an integer, got '2.0'"),
    (["--batch-size", "0"], "--batch-size: expected an integer >= 1, got 0"),
    (["--validation-split", "1"], "--validation-split: expected a finite number in [0, 1)"),
    (["--seed", "-1"], "--seed: expected an integer >= 0, got -1"),
    (["--optimizer", "sgdd"], "--optimizer: unknown optimizer 'sgdd'"),
    (["--activation", "elu"], "--activation: unknown activation 'elu'"),
    (["--loss", "hinge"], "--loss: unknown loss 'hinge'"),
    (["--schedule", "linear"], "--schedule: unknown schedule 'linear'"),
])
def test_train_options_are_parsed_strictly(tmp_path, capsys, args, message):
    assert main(["train", *args, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"fastnet: error: {message}" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["--optimizer", "sgd", "--beta1", "0.5"], "--beta1 does not apply to --optimizer sgd"),
    (["--optimizer", "adam", "--momentum", "0.5"], "--momentum does not apply to --optimizer"),
    (["--step-size", "2"], "--step-size applies to --schedule step only"),
    (["--layers", "784,10,3"], "--layers must end with 10"),
    (["--layers", "100,10"], "--layers must start with 784"),
])
def test_options_that_do_not_fit_together_are_errors(tmp_path, capsys, args, message):
    assert main(["train", *args, "--out", str(tmp_path / "r")]) == 1
    assert f"fastnet: error: {message}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_optimizer_sgd_is_plain_sgd_and_momentum_is_the_recipe():
    from fastnet import runs
    from fastnet.kernels import optim as K
    sgd = runs.resolve({"optimizer": "sgd"})
    assert (sgd["lr"], sgd["momentum"], sgd["weight_decay"]) == (0.01, 0.0, 0.0)
    assert runs.build_optimizer(sgd).kind == K.SGD
    heavy = runs.build_optimizer(runs.resolve({"optimizer": "sgd", "momentum": 0.9}))
    assert (heavy.kind, heavy.momentum) == (K.MOMENTUM, 0.9)
    recipe = runs.build_optimizer(runs.resolve({}))
    assert (recipe.kind, recipe.lr, recipe.momentum, recipe.weight_decay) == \
        (K.MOMENTUM, 0.1, 0.9, 2e-4)
    assert runs.resolve({}) == runs.resolve({"optimizer": "momentum"})


def test_a_run_config_is_the_resolved_options(tmp_path):
    from fastnet import runs
    out = tmp_path / "r"
    assert main(["train", "--optimizer", "sgd", "--schedule", "step", "--epochs", "0",
                 "--limit", "100", "--layers", "784,8,10", "--threads", "1", "--quiet",
                 "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    expected = runs.resolve({"optimizer": "sgd", "schedule": "step", "epochs": 0,
                             "limit": 100, "layers": [784, 8, 10]})
    split = cfg.pop("split")
    assert cfg == dict(expected, out=str(out), threads=1, fastnet_version=fn.__version__)
    assert (split["n_train"], split["n_validation"], split["n_test"]) == (90, 10, 10000)
    assert (cfg["momentum"], cfg["step_size"]) == (0.0, 1)


def test_main_in_process_is_reentrant(tmp_path):
    import numba
    threads = numba.get_num_threads()
    try:
        args = ["train", "--limit", "500", "--layers", "784,16,10", "--epochs", "1",
                "--threads", "1", "--quiet", "--optimizer", "adam"]
        assert main(args + ["--out", str(tmp_path / "a")]) == 0
        assert main(args + ["--out", str(tmp_path / "b")]) == 0
    finally:
        numba.set_num_threads(threads)
    assert_same_run(tmp_path / "a", tmp_path / "b")
    assert json.loads((tmp_path / "a" / "config.json").read_text())["lr"] == 0.001
