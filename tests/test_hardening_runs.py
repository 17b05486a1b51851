"""Issue 21, runs and results: a run folder is never lost (options checked first, a lock,
the final model before the finished checkpoint, SIGTERM, a full disk, a read-only folder),
results are right or refused (binary accuracy, NaN at the end, threads, optimizer reuse),
and sweeps fail fast on a wrong scheduler. Each case asserts the error's type and words
and that no file was lost."""
import http.server
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastnet as fn
import test_cli as cli
from fastnet import io as fio
from fastnet import runs, sweeps
from fastnet.callbacks import load_checkpoint
from fastnet.cli import main

TINY = ["--limit", "600", "--layers", "784,16,10", "--epochs", "1", "--threads", "1",
        "--quiet"]


def files(folder):
    """{name: bytes} of the files in ``folder`` (the lock file and temporary files aside:
    the SIGKILL of ``killed_run`` may land mid-write)."""
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()
            and p.name != runs.LOCK_FILE and not fio.TEMP_NAME.fullmatch(p.name)}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A run killed (SIGKILL) in its second epoch: config.json and an epoch-1 checkpoint."""
    out = tmp_path_factory.mktemp("killed") / "run"
    proc = cli.start("train", *cli.LONGER, "--out", out, "--no-progress")
    cli.wait_for(out / "checkpoint.npz", proc)
    proc.kill()
    proc.wait()
    return out


def copy_run(run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(run, out)
    return out


# ---------------------------------------------------------------- options before files
REFUSALS = [   # train arguments, exit code, words of the error
    (["--force", "--validation-split", "1.0"], 2, "--validation-split: expected a finite"),
    (["--force", "--limit", "3", "--validation-split", "0.1"], 1,
     "--validation-split 0.1 leaves no samples for training or validation out of 3"),
    (["--force", "--layers", "784,10000000000,10"], 1, "weights, more than fastnet trains"),
    (["--force", "--batch-size", "100000000", "--layers", "784,100,10"], 1,
     "values per batch"),
    ([], 1, "already holds a run (config.json, history.csv, checkpoint.npz, best.npz, "
            "model.npz, test.json, timing.json)"),
]


@pytest.mark.parametrize("argv, code, words", REFUSALS)
def test_train_refusal_touches_no_file(finished_run, capsys, argv, code, words):
    before = files(finished_run)
    assert main(["train", *TINY, "--out", str(finished_run), *argv]) == code
    err = capsys.readouterr().err
    assert "fastnet: error:" in err and words in err
    assert files(finished_run) == before


@pytest.mark.parametrize("name", ["model.npz", "best.npz", "checkpoint.npz"])
def test_folder_with_a_model_but_no_config_is_not_overwritten(finished_run, tmp_path,
                                                              capsys, name):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(finished_run / name, out / name)
    before = files(out)
    assert main(["train", *TINY, "--out", str(out)]) == 1
    assert f"already holds a run ({name})" in capsys.readouterr().err
    assert files(out) == before


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_out_naming_a_file_is_an_error_before_training(tmp_path, capsys, command):
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n")
    spec = tmp_path / "s.toml"
    spec.write_text("[base]\nlimit = 100\nepochs = 1\n[grid]\nlr = [0.1, 0.2]\n")
    argv = ["train", *TINY] if command == "train" else ["sweep", str(spec), "--quiet"]
    assert main([*argv, "--out", str(target)]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "keep me\n"


def test_plot_before_the_first_epoch_says_so(tmp_path, capsys):
    (tmp_path / "history.csv").write_text("epoch,loss,accuracy,val_loss,val_accuracy,"
                                          "seconds,lr\n")
    assert main(["plot", str(tmp_path)]) == 1
    assert "no epoch finished yet" in capsys.readouterr().err


# ---------------------------------------------------------------- the folder's life
def test_resume_writes_the_missing_model_of_a_finished_run(finished_run, tmp_path, capsys):
    out = copy_run(finished_run, tmp_path)
    (out / "model.npz").unlink()
    assert main(["resume", str(out)]) == 0
    assert "lacked model.npz; wrote it from checkpoint.npz" in capsys.readouterr().out
    net, _ = load_checkpoint(out / "checkpoint.npz")
    np.testing.assert_array_equal(fn.load(out / "model.npz").params, net.params)


def test_final_model_is_written_before_the_checkpoint_that_marks_the_run_finished(
        one_thread, tmp_path, monkeypatch):
    import fastnet.callbacks as callbacks
    written, save = [], callbacks.fio.save

    def recording_save(net, path, **kw):
        written.append((path.name, kw.get("training", {}).get("finished")))
        return save(net, path, **kw)

    monkeypatch.setattr(callbacks.fio, "save", recording_save)
    rng = np.random.default_rng(0)
    net = fn.Network([fn.Dense(4, 3)], seed=0)
    net.fit(rng.standard_normal((40, 4)), rng.integers(0, 3, 40), epochs=2, batch_size=10,
            verbose=False, callbacks=[fn.RunDirectory(tmp_path)])
    names = [name for name, _ in written if name != "best.npz"]
    assert names == ["checkpoint.npz", "model.npz", "checkpoint.npz"]
    assert written[-1] == ("checkpoint.npz", True)


def test_second_process_is_refused_and_a_dead_holders_lock_is_taken_over(tmp_path):
    out = tmp_path / "run"
    holder = cli.start("train", *cli.LONGER, "--epochs", "100", "--out", out,
                       "--no-progress")   # busy for far longer than the test takes
    try:
        cli.wait_for(out / "checkpoint.npz", holder)
        for argv in (["train", *TINY, "--force", "--out", out], ["resume", out]):
            second = cli.fastnet(*argv, check=False)
            assert second.returncode == 1, second.stderr
            assert (f"fastnet: error: {out} is in use by another fastnet process "
                    f"(PID {holder.pid}") in second.stderr
    finally:
        holder.kill()
        holder.wait()
    assert (out / runs.LOCK_FILE).read_text().strip() == str(holder.pid)   # stale
    taken = cli.fastnet("train", *TINY, "--force", "--out", out)
    assert "test accuracy" in taken.stdout and (out / "model.npz").is_file()
    assert (out / runs.LOCK_FILE).read_text().strip() != str(holder.pid)


def test_one_sweep_per_folder(tmp_path):
    folder = tmp_path / "sweep"
    with runs.claim(folder, "sweep"):
        with pytest.raises(runs.RunError, match=rf"in use by another fastnet process "
                                                rf"\(PID {os.getpid()}"):
            sweeps.sweep({"base": {"limit": 100, "epochs": 1}, "grid": {"lr": [0.1]}},
                         out=folder, verbose=False)
    assert not (folder / "results.csv").exists()


def _immutable(path, on):
    flag = "+i" if on else "-i"
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


def test_read_only_run_folder_fails_before_training(killed_run, tmp_path):
    out = copy_run(killed_run, tmp_path)
    before = files(out)
    if shutil.which("chattr") is None or not _immutable(out, True):
        pytest.skip("needs chattr +i (root ignores permission bits, so a read-only folder "
                    "is made immutable instead)")
    try:
        proc = cli.fastnet("resume", out, check=False)
    finally:
        _immutable(out, False)
    assert proc.returncode == 1
    assert f"fastnet: error: {out}: cannot write the run folder" in proc.stderr
    assert "resuming" not in proc.stdout and "Traceback" not in proc.stderr
    assert files(out) == before


def test_disk_full_reports_an_error_and_keeps_the_last_checkpoint(killed_run, tmp_path):
    out = copy_run(killed_run, tmp_path)
    before = files(out)

    def small_files():   # EFBIG for any file over 4 KiB (SIGXFSZ ignored: an OSError)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = subprocess.run([sys.executable, "-m", "fastnet", "resume", str(out),
                           "--no-progress"], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(cli.ROOT)),
                          preexec_fn=small_files)
    assert proc.returncode == 1, proc.stderr
    assert f"fastnet: error: cannot write the run folder {out}: [Errno 27] File too large" \
        in proc.stderr
    assert f"the last good checkpoint {out / 'checkpoint.npz'} is intact" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert files(out) == before and not list(out.glob(".*.tmp"))
    cli.fastnet("resume", out, "--no-progress")           # space again: the run finishes
    assert (out / "model.npz").is_file()


def test_resume_removes_the_temporary_files_of_a_killed_write(killed_run, tmp_path):
    out = copy_run(killed_run, tmp_path)
    (out / ".checkpoint.npz.0123456789ab.tmp").write_bytes(b"half a checkpoint")
    (out / "notes.0123456789ab.tmp").write_text("not ours")   # not an atomic_write name
    cli.fastnet("resume", out, "--no-progress")
    assert not list(out.glob(".*.tmp")) and (out / "notes.0123456789ab.tmp").is_file()
    assert (out / "model.npz").is_file()


# ---------------------------------------------------------------- right or refused
@pytest.mark.parametrize("policy", ["halve", "skip"])
def test_run_ending_with_nan_weights_is_an_error_without_a_model(tmp_path, capsys, policy):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--lr", "1e10", "--on-nan", policy, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "fastnet: error: training diverged" in err
    assert not (out / "model.npz").exists()


def test_binary_accuracy_of_train_equals_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--loss", "binary_cross_entropy", "--out", str(out)]) == 0
    trained = capsys.readouterr().out.split("test accuracy ")[1].split("%")[0]
    assert main(["evaluate", str(out / "model.npz")]) == 0
    evaluated = capsys.readouterr().out.split("accuracy ")[1].split("%")[0]
    assert trained == evaluated


@pytest.mark.parametrize("n_outputs", [1, 3])
def test_binary_accuracy_is_one_definition(one_thread, n_outputs):
    """The running training accuracy (weights barely move), evaluate and predict agree:
    a sample counts as right when every one of its outputs is on the right side of ½."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5)).astype(np.float32)
    T = (X[:, :n_outputs] + 0.5 * rng.standard_normal((300, n_outputs)) > 0).astype(np.float32)
    net = fn.Network([fn.Dense(5, 8, activation="tanh"), fn.Dense(8, n_outputs)],
                     loss="binary_cross_entropy", seed=2)
    h = net.fit(X, T, epochs=1, batch_size=300, optimizer=fn.SGD(1e-30), shuffle=False,
                verbose=False)
    by_predict = np.mean((net.predict(X).reshape(300, -1) == T).all(axis=1))
    assert h["accuracy"][0] == net.evaluate(X, T)["accuracy"] == by_predict


def test_threads_sharing_one_network_predict_as_one_thread(one_thread):
    (_, _), (X, y) = fn.load_mnist()
    X, y = X[:3000], y[:3000]
    net = fn.Network([fn.Dense(784, 64, activation="relu"), fn.Dense(64, 10)], seed=1)
    expected = net.predict_proba(X, batch_size=100), net.evaluate(X, y, batch_size=100)
    results = [None] * 6
    start = threading.Barrier(len(results))

    def work(i):
        start.wait()
        results[i] = net.predict_proba(X, batch_size=100), net.evaluate(X, y, batch_size=100)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for proba, scores in results:
        np.testing.assert_array_equal(proba, expected[0])
        assert scores == expected[1]


def test_optimizer_reused_on_another_network_raises_until_reset(one_thread):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
    nets = [fn.Network([fn.Dense(4, 3)], seed=s) for s in (0, 1)]
    opt = fn.Adam(0.01)
    nets[0].fit(X, y, epochs=1, batch_size=16, optimizer=opt, verbose=False)
    before = nets[1].params.copy()
    with pytest.raises(ValueError, match="bound to another network's parameters.*reset"):
        nets[1].fit(X, y, epochs=1, batch_size=16, optimizer=opt, verbose=False)
    np.testing.assert_array_equal(nets[1].params, before)
    nets[1].fit(X, y, epochs=1, batch_size=16, optimizer=opt.reset(), verbose=False)
    assert opt.t == 4


@pytest.mark.parametrize("call, error, words", [
    (lambda: fn.EarlyStopping(patience=2.7), ValueError, "patience must be a whole number"),
    (lambda: fn.EarlyStopping(patience=-1), ValueError, "patience must be a whole number"),
    (lambda: fn.Network([fn.Dense(2, 2)]).fit(np.zeros((4, 2)), [0, 1, 0, 1],
                                             shuffle="no", verbose=False),
     TypeError, "shuffle must be True or False"),
])
def test_misused_arguments_are_refused(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_numba_threads_zero_is_a_clear_error():
    proc = subprocess.run([sys.executable, "-m", "fastnet", "train"], capture_output=True,
                          text=True, timeout=120,
                          env=dict(os.environ, NUMBA_NUM_THREADS="0",
                                   PYTHONPATH=str(cli.ROOT)))
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("fastnet: error: NUMBA_NUM_THREADS='0': must be a whole "
                                   "number >= 1 (or unset, to use every core)")


# ---------------------------------------------------------------- sweeps
class _Silent(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.parametrize("server", ["http", "closed"])
def test_sweep_scheduler_that_is_not_dask_fails_within_seconds(tmp_path, capsys,
                                                               monkeypatch, server):
    pytest.importorskip("dask.distributed")
    monkeypatch.setattr(sweeps, "CONNECT_TIMEOUT", 2)
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Silent)
    port = http_server.server_address[1]
    if server == "http":
        threading.Thread(target=http_server.serve_forever, daemon=True).start()
    else:
        http_server.server_close()      # nothing listens on the port any more
    spec = tmp_path / "s.toml"
    spec.write_text("[base]\nlimit = 100\nepochs = 1\n[grid]\nlr = [0.1]\n")
    t0 = time.perf_counter()
    try:
        code = main(["sweep", str(spec), "--scheduler", f"tcp://127.0.0.1:{port}",
                     "--out", str(tmp_path / "sweep"), "--quiet"])
    finally:
        if server == "http":
            http_server.shutdown()
            http_server.server_close()
    assert code == 1 and time.perf_counter() - t0 < (15 if server == "http" else 5)
    assert (f"fastnet: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port} "
            "within 2 s") in capsys.readouterr().err


def test_sklearn_estimator_that_diverges_says_so(one_thread):
    sk = pytest.importorskip("fastnet.sklearn")
    from sklearn.exceptions import ConvergenceWarning
    (X, y), _ = fn.load_mnist()
    X, y = X[:300].astype(np.float32) / 255, y[:300]
    with pytest.warns(ConvergenceWarning, match="worse than a constant prediction's.*lower "
                                                "learning_rate_init \\(1000"):
        sk.MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=1e3, solver="sgd",
                         max_iter=3, random_state=0).fit(X, y)
