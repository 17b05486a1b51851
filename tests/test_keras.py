"""What a Keras user reaches for: net.save / fastnet.load, get_weights / set_weights in
torch.nn.Linear's layout, History.plot, ReduceLROnPlateau, gradient clipping (clipnorm,
global_clipnorm, clipvalue) on every optimizer, checked against their formulas."""
import numpy as np
import pytest

import fastnet
from fastnet import SGD, Adam, Dense, Network, ReduceLROnPlateau
from fastnet.kernels import clip as C
from fastnet.kernels import reference as R
from fastnet.optimizers import OPTIMIZERS, make_optimizer

pytestmark = pytest.mark.usefixtures("one_thread")


def _net(seed=0, act="tanh", dtype=np.float64):
    return Network([Dense(4, 6, activation=act), Dense(6, 3)], seed=seed, dtype=dtype)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)


def test_save_method_and_load_round_trip(tmp_path):
    net = _net()
    X, _ = _data()
    path = net.save(tmp_path / "m.npz")
    back = fastnet.load(path)
    np.testing.assert_array_equal(back.predict_proba(X), net.predict_proba(X))


def test_get_weights_is_torch_linear_layout_and_set_weights_round_trips():
    torch = pytest.importorskip("torch")
    net = Network([Dense(4, 6, activation="prelu"), Dense(6, 5, activation="relu"),
                   Dense(5, 3)], dtype=np.float64)
    weights = net.get_weights()
    assert [w.shape for w in weights] == [(6, 4), (6,), (6,), (5, 6), (5,), (3, 5), (3,)]
    X, _ = _data()
    lin = [torch.nn.Linear(4, 6).double(), torch.nn.Linear(6, 5).double(),
           torch.nn.Linear(5, 3).double()]
    with torch.no_grad():
        for layer, (W, b) in zip(lin, [(weights[0], weights[1]), (weights[3], weights[4]),
                                       (weights[5], weights[6])]):
            layer.weight.copy_(torch.from_numpy(W))
            layer.bias.copy_(torch.from_numpy(b))
        h = torch.from_numpy(X)
        u = lin[0](h)
        h = torch.where(u > 0, u, torch.from_numpy(weights[2]) * u)
        h = torch.relu(lin[1](h))
        out = torch.softmax(lin[2](h), dim=1).numpy()
    np.testing.assert_allclose(net.predict_proba(X), out, atol=1e-12)
    other = Network([Dense(4, 6, activation="prelu"), Dense(6, 5, activation="relu"),
                     Dense(5, 3)], seed=1, dtype=np.float64)
    other.set_weights(weights)
    np.testing.assert_array_equal(other.params, net.params)
    weights[0][...] = 0          # get_weights returns copies
    assert net.layers[0].W.any()


def test_set_weights_errors_name_the_index():
    net = _net()
    weights = net.get_weights()
    with pytest.raises(ValueError, match="list of 4 arrays"):
        net.set_weights(weights[:3])
    bad = list(weights)
    bad[2] = np.zeros((6, 3))
    with pytest.raises(ValueError, match=r"weights\[2\] must have shape \(3, 6\)"):
        net.set_weights(bad)
    bad[2] = np.full((3, 6), np.nan)
    with pytest.raises(ValueError, match=r"weights\[2\] holds NaN"):
        net.set_weights(bad)
    bad[2] = np.full((3, 6), "a")
    with pytest.raises(TypeError, match=r"weights\[2\] must hold real numbers"):
        net.set_weights(bad)
    np.testing.assert_array_equal(net.get_weights()[2], weights[2])   # nothing was set


def test_history_plot_returns_a_figure():
    pytest.importorskip("matplotlib")
    X, y = _data()
    history = _net().fit(X, y, epochs=3, validation_split=0.25, verbose=False)
    fig = history.plot()
    assert len(fig.axes) == 2
    assert [len(line.get_xdata()) for line in fig.axes[0].lines] == [3, 3]
    with pytest.raises(ValueError, match="not in the history"):
        history.plot("bogus")


def test_reduce_lr_on_plateau_follows_keras():
    cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    opt = SGD(0.1)

    class State:
        optimizer = opt
    cb.on_train_begin(State)
    lrs = []
    for epoch, loss in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]):
        cb.on_epoch_end(None, epoch, {"loss": loss})
        opt.set_epoch(epoch + 1)
        lrs.append(opt.current_lr)
    # 2 bad epochs -> halve; the cooldown epoch resets the count, yet (as in Keras) counts
    # once it is over; 2 more bad -> halve; then min_lr; a better loss changes nothing
    assert lrs == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02])
    cb2 = ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1, min_lr=0.02)
    cb2.on_train_begin(State)
    for epoch in range(3):
        cb2.on_epoch_end(None, epoch, {"loss": 1.0})
    assert opt.current_lr == pytest.approx(0.02)


def test_reduce_lr_on_plateau_in_fit_changes_the_next_epochs_rate():
    X, y = _data()
    cb = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=10.0)
    history = _net().fit(X, y, epochs=4, optimizer=SGD(0.1), callbacks=[cb], verbose=False)
    # epoch 1 sets the best; every later epoch is a plateau and halves the next rate
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.025])


@pytest.mark.parametrize("c", [0.1, 1.0, 100.0])
def test_clip_kernels_match_their_formulas(c):
    g = np.random.default_rng(0).normal(size=50)
    want, norm = R.clip_norm_ref(g, c)
    got = g.copy()
    assert C.clip_norm(got, c) == pytest.approx(norm)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.linalg.norm(got) == pytest.approx(min(c, norm))
    got = g.copy()
    C.clip_value(got, c)
    np.testing.assert_array_equal(got, R.clip_value_ref(g, c))


def _one_step(opt, clip_grads):
    """params after one fit step of a full batch, and the expected ones: the gradient
    clipped by ``clip_grads`` then the optimizer's unclipped rule."""
    X, y = _data()
    net = _net()
    before = net.params.copy()
    net.loss_and_gradient(X, y)
    g = clip_grads(net, net.grads.copy())
    ref = make_optimizer({k: v for k, v in opt.config().items()
                          if k not in ("clipnorm", "clipvalue", "global_clipnorm")})
    expected = before.copy()
    ref.step(expected, g)
    net.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=False)
    return net.params, expected


def _per_tensor(c):
    def clip(net, g):
        for segs in net._segments:
            for seg in segs:
                if seg is not None:
                    part = g[seg[0]]
                    norm = np.linalg.norm(part)
                    if norm > c:
                        g[seg[0]] = part * c / norm
        return g
    return clip


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_clipnorm_clipvalue_global_clipnorm_on_every_optimizer(name):
    for kw, clip in (({"clipnorm": 0.05}, _per_tensor(0.05)),
                     ({"clipvalue": 0.01}, lambda net, g: np.clip(g, -0.01, 0.01)),
                     ({"global_clipnorm": 0.05},
                      lambda net, g: g * min(1, 0.05 / np.linalg.norm(g)))):
        opt = OPTIMIZERS[name](lr=0.1, **kw)
        assert opt.config()[next(iter(kw))] == next(iter(kw.values()))
        got, want = _one_step(opt, clip)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_clipping_arguments_are_checked():
    with pytest.raises(ValueError, match="at most one of clipnorm, clipvalue"):
        Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm"):
        SGD(clipnorm=-1.0)
    assert "clipnorm" not in SGD().config()


# ------------------------------------------------------------------ sample and class weights
def test_integer_sample_weights_equal_repeated_samples():
    X, y = _data(30)
    w = np.random.default_rng(1).integers(0, 4, size=30)
    a, b = _net(), _net()
    ha = a.fit(X, y, epochs=3, batch_size=30, optimizer=SGD(0.1), shuffle=False,
               sample_weight=w, verbose=False)
    hb = b.fit(np.repeat(X, w, axis=0), np.repeat(y, w), epochs=3, batch_size=int(w.sum()),
               optimizer=SGD(0.1), shuffle=False, verbose=False)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-10)


def _torch_grads(net, X, y, weights):
    torch = pytest.importorskip("torch")
    params = [torch.tensor(p, requires_grad=True) for p in net.get_weights()]
    W1, b1, W2, b2 = params
    u = torch.tanh(torch.from_numpy(X) @ W1.T + b1) @ W2.T + b2
    yt = torch.from_numpy(y)
    if isinstance(weights, dict):    # class weights: PyTorch's own weighted mean
        cw = torch.tensor([weights.get(k, 1.0) for k in range(3)], dtype=torch.float64)
        loss = torch.nn.functional.cross_entropy(u, yt, weight=cw)
    else:
        ell = torch.nn.functional.cross_entropy(u, yt, reduction="none")
        wt = torch.from_numpy(weights)
        loss = (wt * ell).sum() / wt.sum()
    loss.backward()
    return loss.item(), [p.grad.numpy() for p in params]


@pytest.mark.parametrize("kind", ["class", "sample"])
def test_weighted_loss_and_gradient_equal_pytorchs(kind):
    X, y = _data()
    net = _net()
    if kind == "class":
        weights = {0: 2.0, 2: 0.5}
        loss = net.loss_and_gradient(X, y, class_weight=weights)
    else:
        weights = np.random.default_rng(2).uniform(0, 3, size=len(y))
        loss = net.loss_and_gradient(X, y, sample_weight=weights)
    want_loss, want = _torch_grads(net, X, y, weights)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    got = [net.layers[0].dW, net.layers[0].db, net.layers[1].dW, net.layers[1].db]
    for g, t in zip(got, want):
        np.testing.assert_allclose(g, t, rtol=1e-10, atol=1e-14)


def test_balanced_class_weights_are_sklearns():
    sklearn_utils = pytest.importorskip("sklearn.utils")
    from fastnet.train import sample_weights
    X, y = _data(50)
    net = _net()
    T = np.eye(3)[y]
    expected = sklearn_utils.compute_class_weight("balanced", classes=np.unique(y), y=y)
    np.testing.assert_allclose(sample_weights(net, T, class_weight="balanced"), expected[y])
    with pytest.raises(ValueError, match="class_weight must be a dict or 'balanced'"):
        sample_weights(net, T, class_weight="bogus")
    with pytest.raises(ValueError, match="sample_weight must be finite and >= 0"):
        sample_weights(net, T, sample_weight=-np.ones(50))
    with pytest.raises(ValueError, match="sample_weight must be 50 numbers"):
        sample_weights(net, T, sample_weight=np.ones(49))


def test_weight_kernel_matches_reference():
    from fastnet.kernels.weights import weigh_rows
    rng = np.random.default_rng(0)
    losses, delta, dz, w = rng.random(6), rng.random((6, 3)), rng.random((6, 3)), rng.random(6)
    want = R.weigh_rows_ref(losses, delta, dz, w)
    total = weigh_rows(losses, delta, dz, w)
    for got, ref in zip((losses, delta, dz, total), want):
        np.testing.assert_allclose(got, ref, rtol=1e-12)


# ------------------------------------------------------------------ dropout
def _dropout_net(p=0.5, seed=0):
    return Network([Dense(4, 8, activation="tanh", dropout=p),
                    Dense(8, 6, activation="prelu", dropout=p), Dense(6, 3)],
                   seed=seed, dtype=np.float64)


def _training_loss(net, X, T, seed):
    """The training loss with the masks drawn from Generator(seed); gradient in net.grads."""
    from fastnet import passes
    ws = passes.workspace(net, X.shape[0])
    passes.gather(ws, X, T, np.arange(X.shape[0]), 1.0)
    passes.forward(net, ws, training=True, rng=np.random.default_rng(seed))
    total = passes.loss(net, ws)
    passes.backward(net, ws)
    return total / X.shape[0], ws


def test_dropout_gradient_check_with_a_fixed_mask():
    X, y = _data(12)
    T = np.eye(3)[y]
    net = _dropout_net(0.4)
    _, ws = _training_loss(net, X, T, seed=5)
    assert all((m == 0).any() for m in ws.mask[:2])
    grads = net.grads.copy()
    eps = 1e-6
    for i in range(0, net.params.size, 7):
        old = net.params[i]
        net.params[i] = old + eps
        up = _training_loss(net, X, T, seed=5)[0]
        net.params[i] = old - eps
        down = _training_loss(net, X, T, seed=5)[0]
        net.params[i] = old
        assert grads[i] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)


def test_dropout_changes_nothing_at_inference():
    X, _ = _data()
    plain = Network([Dense(4, 8, activation="tanh"), Dense(8, 6, activation="prelu"),
                     Dense(6, 3)], dtype=np.float64)
    dropped = _dropout_net(0.5)
    dropped.set_weights(plain.get_weights())
    np.testing.assert_array_equal(dropped.predict_proba(X), plain.predict_proba(X))


def test_dropout_is_reproducible_with_a_seed_and_drops_a_fraction_p():
    X, y = _data(200)
    a, b, c = _dropout_net(0.3), _dropout_net(0.3), _dropout_net(0.3)
    for net, seed in ((a, 1), (b, 1), (c, 2)):
        net.fit(X, y, epochs=2, batch_size=20, seed=seed, verbose=False)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    _, ws = _training_loss(_dropout_net(0.3), X, np.eye(3)[y], seed=0)
    dropped = np.mean(ws.mask[0] == 0)
    assert abs(dropped - 0.3) < 0.03
    np.testing.assert_allclose(ws.mask[0][ws.mask[0] > 0], 1 / 0.7)


def test_dropout_kernels_match_reference_and_bad_dropout_is_an_error():
    from fastnet.kernels.dropout import apply_mask, dropout_mask
    r = np.random.default_rng(0).random((5, 7))
    m = r.copy()
    dropout_mask(m, 0.25)
    np.testing.assert_allclose(m, R.dropout_mask_ref(r, 0.25))
    out = np.empty_like(r)
    apply_mask(out, r, m)
    np.testing.assert_allclose(out, R.apply_mask_ref(r, m))
    with pytest.raises(ValueError, match="dropout"):
        Dense(3, 3, dropout=1.0)
    with pytest.raises(ValueError, match="dropout applies to hidden layers"):
        Network([Dense(3, 3, dropout=0.5)])
    assert Dense(3, 3, dropout=0.5).config()["dropout"] == 0.5


def test_train_options_dropout_and_class_weight():
    from fastnet import runs
    cfg = runs.resolve({"dropout": 0.25, "class_weight": "balanced",
                        "layers": [784, 16, 8, 10]})
    net = runs.build_network(cfg)
    assert [layer.dropout for layer in net.layers] == [0.25, 0.25, 0.0]
    assert cfg["class_weight"] == "balanced"
    with pytest.raises(ValueError, match="class_weight"):
        runs.TRAIN_OPTIONS["class_weight"].parse("heavy")
