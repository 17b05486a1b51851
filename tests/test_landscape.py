"""fastnet.landscape and fastnet.monitor on small networks."""
import numpy as np
import pytest

import fastnet as fn
from fastnet.kernels import activations as A
from fastnet.kernels import losses as L
from fastnet.kernels.landscape import landscape_losses
from fastnet.kernels.reference import landscape_losses_ref
from fastnet.landscape import filter_normalised_direction, loss_landscape
from fastnet.monitor import GradientMonitor

# The landscape evaluates layers 2..L as a network of their own, whose first layer sums
# its products in another order than a later layer of the full network (kernels.dense):
# the centre equals evaluate's loss to float32 rounding, not bit for bit.
CENTRE_RTOL = 1e-6


def small_problem(activation="tanh", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 6))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)
    net = fn.Network([fn.Dense(6, 8, activation), fn.Dense(8, 5, activation),
                      fn.Dense(5, 2)], seed=seed)
    return net, X, y


def test_centre_equals_evaluate_loss_and_weights_are_restored():
    net, X, y = small_problem()
    net.fit(X, y, epochs=3, batch_size=20, verbose=False)
    before = net.params.copy()
    land = loss_landscape(net, X, y, steps=7, span=0.5)
    assert land.loss.shape == (7, 7)
    assert land.centre == pytest.approx(net.evaluate(X, y)["loss"], rel=CENTRE_RTOL)
    assert np.array_equal(net.params, before)
    assert land.loss.min() <= land.centre < land.loss.max()


def grid_by_evaluate(net, X, y, land):
    """The landscape the plain way: one ``evaluate`` per grid point with the weights moved."""
    saved = net.params.copy()
    loss = np.empty_like(land.loss)
    for i, a in enumerate(land.alphas):
        for j, b in enumerate(land.betas):
            net.params[...] = saved + net.from_canonical(a * land.directions[0]
                                                         + b * land.directions[1])
            loss[i, j] = net.evaluate(X, y)["loss"]
    net.params[...] = saved
    return loss


@pytest.mark.parametrize("layers,loss", [
    ([("relu", 8), ("tanh", 5), ("identity", 2)], "softmax_cross_entropy"),
    ([("prelu", 7), ("sigmoid", 3)], "binary_cross_entropy"),
    ([("swish", 6), ("rrelu", 4), ("leaky_relu", 2)], "sum_of_squares"),
    ([("identity", 3)], "softmax_cross_entropy"),
    ([("tanh", 2)], "sum_of_squares"),
])
def test_every_grid_point_equals_evaluate_with_the_moved_weights(layers, loss):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((150, 6))
    sizes = [6] + [n for _, n in layers]
    net = fn.Network([fn.Dense(sizes[i], sizes[i + 1], act) for i, (act, _) in enumerate(layers)],
                     loss=loss, seed=2)
    net.layers[0].b[...] = 0.3
    K = net.n_outputs
    y = (rng.integers(0, K, 150) if loss == "softmax_cross_entropy" else
         rng.integers(0, 2, (150, K)) if loss == "binary_cross_entropy" else
         rng.standard_normal((150, K)))
    land = loss_landscape(net, X, y, steps=5, span=0.8)
    np.testing.assert_allclose(land.loss, grid_by_evaluate(net, X, y, land), rtol=1e-5)


def test_landscape_of_uint8_images_in_several_batches():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (150, 12), dtype=np.uint8)
    y = rng.integers(0, 3, 150)
    net = fn.Network([fn.Dense(12, 6, "relu"), fn.Dense(6, 3)], seed=1)
    land = loss_landscape(net, X, y, steps=3, span=0.5, batch_size=64)
    np.testing.assert_allclose(land.loss, grid_by_evaluate(net, X, y, land), rtol=1e-5)


@pytest.mark.parametrize("acts,widths,loss", [
    ([A.RELU, A.SOFTMAX], [16, 3], L.SOFTMAX_CROSS_ENTROPY),
    ([A.PRELU, A.SWISH, A.SIGMOID], [9, 5, 2], L.BINARY_CROSS_ENTROPY),
    ([A.TANH, A.LEAKY_RELU, A.RRELU, A.SIGMOID], [7, 6, 4, 3], L.SUM_OF_SQUARES),
    ([A.IDENTITY], [4], L.SUM_OF_SQUARES),
    ([A.SOFTMAX], [3], L.SOFTMAX_CROSS_ENTROPY),
])
@pytest.mark.parametrize("threads", [1, 2])
def test_landscape_losses_match_their_reference_for_any_thread_count(acts, widths, loss,
                                                                        threads):
    rng = np.random.default_rng(len(acts))
    B, H, K, TW = 37, widths[0], widths[-1], sum(widths[1:])
    NW = sum(i * o for i, o in zip(widths[:-1], widths[1:]))
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    u0, p1, p2 = f32(B, H), f32(B, H), f32(B, H)
    bias1, slope1 = f32(H), np.full((1, H), 0.2, np.float32)
    tw0, tw1, tw2 = f32(NW), f32(NW), f32(NW)
    tbias, tslope = f32(TW), np.full((1, TW), 0.1, np.float32)
    targets = (np.eye(K, dtype=np.float32)[rng.integers(0, K, B)] if loss != L.SUM_OF_SQUARES
               else f32(B, K))
    alphas, betas = np.linspace(-1, 1, 3), np.linspace(-0.5, 0.5, 4)
    acts, widths = np.array(acts, np.int64), np.array(widths, np.int64)
    block = 8
    out = np.full((3, 4), 1.0)
    scratch = [*(np.empty((threads, NW), np.float32) for _ in range(2)),
               np.empty((threads, block, H), np.float32),
               *(np.empty((threads, block, H), np.float32) for _ in range(2)),
               *(np.empty((threads, block, TW), np.float32) for _ in range(2)),
               np.empty((threads, K), np.float32)]
    partial = np.empty((-(-B // block), 3, 4))
    landscape_losses(out, partial, *scratch, u0, p1, p2, bias1, slope1, tw0, tw1, tw2, tbias,
                     tslope, targets, alphas, betas, acts, widths, loss, block)
    ref = landscape_losses_ref(*(np.float64(x) for x in (u0, p1, p2, bias1, slope1, tw0, tw1,
                                                         tw2, tbias, tslope, targets)),
                               alphas, betas, acts, widths, loss)
    np.testing.assert_allclose(out, 1.0 + ref, rtol=2e-5)
    if threads == 2:   # slots share the blocks differently: the same sums, bit for bit
        one = np.full((3, 4), 1.0)
        landscape_losses(one, partial, *(x[:1] for x in scratch), u0, p1, p2, bias1, slope1,
                         tw0, tw1, tw2, tbias, tslope, targets, alphas, betas, acts, widths,
                         loss, block)
        assert np.array_equal(one, out)


def test_directions_are_filter_normalised_with_zero_biases():
    net, X, y = small_problem()
    net.layers[0].b[...] = 0.5
    norms = [np.linalg.norm(layer.W, axis=1) for layer in net.layers]
    before = net.params.copy()
    d = filter_normalised_direction(net, np.random.default_rng(1))
    assert np.array_equal(net.params, before)
    net.params[...] = d
    for layer, n in zip(net.layers, norms):
        np.testing.assert_allclose(np.linalg.norm(layer.W, axis=1), n, rtol=1e-5)
        assert not layer.b.any()


def test_landscape_is_seeded_and_saves(tmp_path):
    net, X, y = small_problem()
    a = loss_landscape(net, X, y, steps=3, seed=4)
    b = loss_landscape(net, X, y, steps=3, seed=4)
    assert np.array_equal(a.loss, b.loss)
    a.save(tmp_path / "l.npz")
    with np.load(tmp_path / "l.npz") as z:
        assert np.array_equal(z["loss"], a.loss) and z["directions"].shape == (2, net.params.size)


@pytest.mark.parametrize("kw,err", [({"steps": 0}, ValueError), ({"span": -1.0}, ValueError),
                                    ({"steps": 2.5}, TypeError), ({"batch_size": 0}, ValueError)])
def test_bad_grid_arguments_name_themselves(kw, err):
    net, X, y = small_problem()
    with pytest.raises(err, match=next(iter(kw))):
        loss_landscape(net, X, y, **kw)


def test_monitor_records_every_epoch_per_layer():
    net, X, y = small_problem("relu")
    mon = GradientMonitor(X, y, probe=64)
    net.fit(X, y, epochs=3, batch_size=20, verbose=False, callbacks=[mon])
    h = mon.history
    assert list(h["epoch"]) == [0, 1, 2, 3]
    for f in ("grad_norm", "mean", "std", "dead"):
        assert h[f].shape == (4, 3)
    net.loss_and_gradient(mon.X, mon.y)   # the last row is the trained net's
    np.testing.assert_allclose(h["grad_norm"][-1], [np.linalg.norm(l.dW) for l in net.layers],
                               rtol=1e-6)
    assert np.isnan(h["dead"][:, 2]).all()            # the softmax output has no f'
    assert ((h["dead"][:, :2] >= 0) & (h["dead"][:, :2] <= 1)).all()


def test_monitor_activation_stats_match_a_numpy_forward():
    net, X, y = small_problem("sigmoid")
    mon = GradientMonitor(X, y, probe=50, seed=2)
    mon.record(net, 0)
    W1, b1 = np.array(net.layers[0].W, np.float64), np.array(net.layers[0].b, np.float64)
    z1 = 1 / (1 + np.exp(-(mon.X @ W1.T + b1)))
    assert mon.history["mean"][0, 0] == pytest.approx(z1.mean(), rel=1e-5)
    assert mon.history["std"][0, 0] == pytest.approx(z1.std(), rel=1e-5)


def test_monitor_counts_dead_relu_units():
    net, X, y = small_problem("relu")
    net.layers[0].b[:4] = -100.0       # 4 of 8 first-layer units never fire
    mon = GradientMonitor(X, y)
    mon.record(net, 0)
    assert mon.history["dead"][0, 0] == 0.5


def test_cli_landscape_writes_npz_and_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from fastnet.cli import main
    net = fn.Network([fn.Dense(784, 8, "relu"), fn.Dense(8, 10)], seed=1)
    fn.save(net, tmp_path / "m.npz")
    assert main(["landscape", str(tmp_path / "m.npz"), "--out", str(tmp_path / "l"),
                 "--steps", "3", "--limit", "100"]) == 0
    assert "3x3 grid over 100 test samples" in capsys.readouterr().out
    with np.load(tmp_path / "l" / "landscape.npz") as z:
        (_, _), (X, y) = fn.load_mnist()
        assert z["loss"][1, 1] == pytest.approx(net.evaluate(X[:100], y[:100])["loss"],
                                                rel=CENTRE_RTOL)
    assert (tmp_path / "l" / "landscape.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_monitor_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    from fastnet.monitor import plot_monitor
    net, X, y = small_problem("tanh")
    mon = GradientMonitor(X, y, probe=32)
    net.fit(X, y, epochs=2, batch_size=50, verbose=False, callbacks=[mon])
    path = plot_monitor(mon.history, tmp_path / "monitor.png", "tanh")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_fit_record_keeps_the_monitors_rows_in_history_and_plots_them(tmp_path):
    net, X, y = small_problem("tanh")
    h = net.fit(X, y, epochs=2, batch_size=50, verbose=False,
                record=("grad_norm", "activation_stats"))
    mon = GradientMonitor(X, y)
    twin, _, _ = small_problem("tanh")
    twin.fit(X, y, epochs=2, batch_size=50, verbose=False, callbacks=[mon])
    assert set(h.records) == {"epoch", "grad_norm", "mean", "std", "dead"}
    for f, v in mon.history.items():
        np.testing.assert_array_equal(h.records[f], v)
    assert h.records["grad_norm"].shape == (3, 3)
    if pytest.importorskip("matplotlib"):
        assert h.plot_records(tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_fit_record_one_name_and_bad_names():
    net, X, y = small_problem("relu")
    h = net.fit(X, y, epochs=1, batch_size=50, verbose=False, record="activation_stats")
    assert set(h.records) == {"epoch", "mean", "std", "dead"}
    with pytest.raises(ValueError, match="record"):
        net.fit(X, y, epochs=1, verbose=False, record=("gradnorm",))


def test_monitor_probe_keeps_the_workspace_cache():
    from fastnet import passes
    net, X, y = small_problem("relu")
    net.fit(X, y, epochs=1, batch_size=20, verbose=False)
    kept = dict(net.workspaces)
    mon = GradientMonitor(X, y, probe=64)
    for epoch in range(passes.MAX_WORKSPACES + 1):
        mon.record(net, epoch)
    assert net.workspaces == kept


def test_a_fine_grid_is_summed_in_bounded_batches_to_the_same_loss(monkeypatch):
    """The same to float32 rounding: the first-layer products of smaller batches come from
    forward passes of another batch size."""
    import fastnet.landscape as fl
    net, X, y = small_problem()
    whole = loss_landscape(net, X, y, steps=5)
    monkeypatch.setattr(fl, "PARTIAL_BYTES", 8 * 5 * 5)   # one block per kernel call
    np.testing.assert_allclose(loss_landscape(net, X, y, steps=5).loss, whole.loss, rtol=1e-6)


@pytest.mark.parametrize("sparse_inputs", [True, False])
def test_a_model_with_a_scaler_has_its_evaluate_loss_at_the_centre(sparse_inputs):
    """A model of its own data scales its inputs (a fitted scaler): the landscape does too."""
    from fastnet.scaling import Scaler
    rng = np.random.default_rng(3)
    X = rng.normal(50, 20, (120, 6)).astype(np.float32)
    y = (X[:, 0] > 50).astype(int) + (X[:, 1] > 50)
    net = fn.Network([fn.Dense(6, 8, activation="tanh"), fn.Dense(8, 3)], seed=0,
                     sparse_inputs=sparse_inputs)
    net.scaler = Scaler("standard").fit(X)
    net.fit(X, y, epochs=2, batch_size=32, optimizer=fn.Adam(0.01), verbose=False)
    land = loss_landscape(net, X, y, steps=3)
    assert land.centre == pytest.approx(net.evaluate(X, y)["loss"], rel=1e-6)
    np.testing.assert_allclose(land.loss, grid_by_evaluate(net, X, y, land), rtol=1e-5)
