"""Every optimizer against a NumPy reference of its textbook update rule, and the schedules.

Notation: p parameters, g the gradient ∂L/∂p, η the learning rate, λ the weight decay.
With (coupled) weight decay the gradient used is ∇ = g + λ p (an L2 penalty ½ λ ‖p‖²);
AdamW instead decays the weights directly: p ← p − η λ p.
"""
import math

import numpy as np
import pytest

from conftest import assert_close
from fastnet import SGD, AdaGrad, Adam, AdamW, Constant, Cosine, Dense, Network, RMSProp, StepDecay
from fastnet.kernels import reference as ref
from fastnet.optimizers import make_optimizer, make_schedule

N = 37  # odd size: no hidden assumption about vector widths


def vectors(rng, n_steps):
    p0 = rng.standard_normal(N)
    grads = [rng.standard_normal(N) * 10 ** rng.uniform(-3, 1, N) for _ in range(n_steps)]
    return p0, grads


def run(opt, p0, grads):
    """Apply opt to a copy of p0 for each gradient; return the parameters after every step."""
    p = p0.copy()
    out = []
    for g in grads:
        opt.step(p, g)
        out.append(p.copy())
    return out


def trajectory(step, p, grads, n_state=0, **hyper):
    """The parameters after each step of a rule of fastnet.kernels.reference (the state
    starts at zeros; Adam is also given the step number t = 1, 2, ...)."""
    state, out = [np.zeros_like(p)] * n_state, []
    for t, g in enumerate(grads, start=1):
        res = step(p, g, *state, **({"t": t} if step is ref.adam_ref else {}), **hyper)
        p, state = (res, []) if n_state == 0 else (res[0], list(res[1:]))
        out.append(p)
    return out


# ------------------------------------------------------------ one step and several steps
CASES = [
    ("sgd", lambda wd: SGD(0.1, weight_decay=wd), lambda p, gs, wd: trajectory(
        ref.sgd_ref, p, gs, lr=0.1, wd=wd)),
    ("momentum", lambda wd: SGD(0.05, momentum=0.9, weight_decay=wd), lambda p, gs, wd: trajectory(
        ref.momentum_ref, p, gs, 1, lr=0.05, mu=0.9, wd=wd)),
    ("nesterov", lambda wd: SGD(0.05, momentum=0.8, nesterov=True, weight_decay=wd),
     lambda p, gs, wd: trajectory(ref.momentum_ref, p, gs, 1, lr=0.05, mu=0.8, wd=wd,
                                    nesterov=True)),
    ("adagrad", lambda wd: AdaGrad(0.1, eps=1e-7, weight_decay=wd), lambda p, gs, wd: trajectory(
        ref.adagrad_ref, p, gs, 1, lr=0.1, eps=1e-7, wd=wd)),
    ("rmsprop", lambda wd: RMSProp(0.01, rho=0.95, eps=1e-6, weight_decay=wd),
     lambda p, gs, wd: trajectory(ref.rmsprop_ref, p, gs, 1, lr=0.01, rho=0.95, eps=1e-6,
                                    wd=wd)),
    ("adam", lambda wd: Adam(0.01, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=wd),
     lambda p, gs, wd: trajectory(ref.adam_ref, p, gs, 2, lr=0.01, beta1=0.8, beta2=0.99,
                                    eps=1e-7, wd=wd)),
    ("adamw", lambda wd: AdamW(0.01, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=wd),
     lambda p, gs, wd: trajectory(ref.adam_ref, p, gs, 2, lr=0.01, beta1=0.8, beta2=0.99,
                                    eps=1e-7, wd=wd, decoupled=True)),
]


@pytest.mark.parametrize("name,make,rule", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("wd", [0.0, 0.05])
@pytest.mark.parametrize("n_steps", [1, 6])
def test_update_matches_textbook_rule(rng, name, make, rule, wd, n_steps):
    p0, grads = vectors(rng, n_steps)
    got = run(make(wd), p0, grads)
    want = rule(p0, grads, wd)
    for t, (a, b) in enumerate(zip(got, want), start=1):
        assert_close(a, b, rtol=1e-12, atol=1e-13, what=f"{name} step {t}")


@pytest.mark.parametrize("name,make,rule", CASES, ids=[c[0] for c in CASES])
def test_float32_parameters(rng, name, make, rule):
    """The network's own dtype (float32): same rule, float32 rounding."""
    p0, grads = vectors(rng, 3)
    got = run(make(0.01), p0.astype(np.float32), [g.astype(np.float32) for g in grads])
    assert got[-1].dtype == np.float32
    assert_close(got[-1], rule(p0, grads, 0.01)[-1], rtol=1e-4, atol=1e-5, what=name)


def test_adam_bias_correction_over_steps():
    """With a constant gradient g, m̂_t = g and v̂_t = g² exactly at every step t, so
    every step moves p by −η g / (|g| + ε) ≈ −η sign(g). Without the correction the
    first steps would be (1 − β1) / √(1 − β2) ≈ 3.2 times too large (β1=0.9, β2=0.999)."""
    g = np.array([3.0, -0.5, 1e-3, -20.0])
    lr, eps = 0.01, 1e-8
    opt = Adam(lr, eps=eps)
    p = np.zeros(4)
    for t in range(1, 11):
        before = p.copy()
        opt.step(p, g)
        assert_close(p - before, -lr * g / (np.abs(g) + eps), rtol=1e-9, atol=1e-15,
                     what=f"Adam step {t}")
        m, v = opt.state["m"], opt.state["v"]
        assert_close(m / (1 - 0.9 ** t), g, rtol=1e-12, atol=0, what=f"m-hat step {t}")
        assert_close(v / (1 - 0.999 ** t), g ** 2, rtol=1e-12, atol=0, what=f"v-hat step {t}")
    assert opt.t == 10


def test_weight_decay_coupled_vs_decoupled():
    """With g = 0, L2-coupled Adam normalises the decay gradient λp away (step ≈ η sign(p)),
    while AdamW shrinks p by exactly η λ p; plain SGD shrinks by η λ p too."""
    p0 = np.array([2.0, -0.5, 0.1])
    zero = np.zeros(3)
    lr, wd = 0.1, 0.01

    p = p0.copy()
    AdamW(lr, weight_decay=wd).step(p, zero)
    assert_close(p, p0 * (1 - lr * wd), rtol=1e-12, atol=0, what="AdamW")

    p = p0.copy()
    Adam(lr, weight_decay=wd).step(p, zero)
    assert_close(p, p0 - lr * np.sign(p0), rtol=0, atol=1e-5, what="Adam + L2")

    p = p0.copy()
    SGD(lr, weight_decay=wd).step(p, zero)
    assert_close(p, p0 * (1 - lr * wd), rtol=1e-12, atol=0, what="SGD + L2")


def test_nesterov_is_the_look_ahead_method():
    """Sutskever et al. (2013) Nesterov: v ← μ v − η ∇f(θ + μ v), θ ← θ + v.
    fastnet steps the look-ahead point φ = θ + μ v with the gradient at φ; on a quadratic
    f(θ) = ½ θᵀ A θ both must trace the same trajectory: φ_t = θ_t + μ v_t."""
    rng = np.random.default_rng(0)
    M = rng.standard_normal((5, 5))
    A = M @ M.T + np.eye(5)
    lr, mu = 0.02, 0.9
    theta = rng.standard_normal(5)
    v = np.zeros(5)
    phi = theta.copy()
    opt = SGD(lr, momentum=mu, nesterov=True)
    for _ in range(20):
        v = mu * v - lr * A @ (theta + mu * v)
        theta = theta + v
        opt.step(phi, A @ phi)
        assert_close(phi, theta + mu * v, rtol=1e-10, atol=1e-12, what="look-ahead point")


def test_nesterov_differs_from_momentum(rng):
    p0, grads = vectors(rng, 3)
    a = run(SGD(0.1, momentum=0.9), p0, grads)[-1]
    b = run(SGD(0.1, momentum=0.9, nesterov=True), p0, grads)[-1]
    assert np.abs(a - b).max() > 1e-3


def test_optimizer_is_bound_to_its_parameters_until_reset(rng):
    opt = Adam(0.01)
    p3, p5 = np.zeros(3), np.zeros(5)
    opt.step(p3, np.ones(3))
    with pytest.raises(ValueError, match="bound to another network's parameters.*reset"):
        opt.step(p5, np.ones(5))
    assert opt.t == 1 and opt.state["m"].shape == (3,)
    opt.reset().step(p5, np.ones(5))  # reset: fresh state for the new vector
    assert opt.t == 1 and opt.state["m"].shape == (5,)


def test_optimizer_trains_prelu_slopes(rng):
    """PReLU slopes are parameters like the weights: the optimizer moves them."""
    net = Network([Dense(3, 8, activation="prelu"), Dense(8, 1)], loss="sum_of_squares", seed=0)
    a0 = net.layers[0].a.copy()
    X = rng.standard_normal((64, 3))
    y = (np.abs(X).sum(axis=1, keepdims=True))
    net.fit(X, y, epochs=3, batch_size=16, optimizer=Adam(0.01), verbose=False)
    assert np.abs(net.layers[0].a - a0).max() > 1e-4


# ------------------------------------------------------------ schedules
def test_schedules():
    assert [Constant()(e) for e in range(3)] == [1.0, 1.0, 1.0]
    step = StepDecay(step_size=3, gamma=0.5)
    assert [step(e) for e in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    cos = Cosine(10)
    want = [0.5 * (1 + math.cos(math.pi * e / 10)) for e in range(12)]
    want[11] = want[10] = 0.0  # stays at the minimum after T epochs
    assert np.allclose([cos(e) for e in range(12)], want, atol=1e-15)
    assert cos(0) == 1.0 and abs(cos(5) - 0.5) < 1e-15
    floor = Cosine(4, min_factor=0.1)
    assert floor(0) == 1.0 and abs(floor(4) - 0.1) < 1e-15 and abs(floor(2) - 0.55) < 1e-15
    for bad in (dict(total_epochs=0), dict(total_epochs=5, min_factor=-0.1),
                dict(total_epochs=5, min_factor=2)):
        with pytest.raises(ValueError):
            Cosine(**bad)
    with pytest.raises(ValueError, match="step_size"):
        StepDecay(0)


def test_schedule_sets_learning_rate_per_epoch(rng):
    X = rng.standard_normal((20, 2))
    y = X.sum(axis=1)
    net = Network([Dense(2, 1)], loss="sum_of_squares")
    hist = net.fit(X, y, epochs=5, batch_size=10, verbose=False,
                   optimizer=SGD(0.1, schedule=StepDecay(2, 0.1)))
    assert np.allclose(hist["lr"], [0.1, 0.1, 0.01, 0.01, 0.001])
    opt = Adam(0.01, schedule=Cosine(4))
    opt.set_epoch(2)
    assert abs(opt.current_lr - 0.005) < 1e-15


def test_make_optimizer_and_schedule_from_config():
    for name in ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"):
        opt = make_optimizer({"name": name, "lr": 0.02})
        assert opt.lr == 0.02
        again = make_optimizer(opt.config())  # round trip
        assert again.config() == opt.config()
    assert make_optimizer("nesterov").nesterov
    assert make_optimizer("adamw").decoupled
    assert isinstance(make_schedule({"name": "step", "step_size": 2}), StepDecay)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("lbfgs")
    with pytest.raises(ValueError, match="momentum"):
        SGD(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="nesterov"):
        SGD(0.1, nesterov=True)


def test_against_pytorch_if_installed(rng):
    """Cross-check with torch.optim (same hyper-parameters, 5 steps)."""
    torch = pytest.importorskip("torch")
    pairs = [
        (SGD(0.1, momentum=0.9, weight_decay=0.01),
         lambda q: torch.optim.SGD([q], lr=0.1, momentum=0.9, weight_decay=0.01)),
        (SGD(0.1, momentum=0.9, nesterov=True),
         lambda q: torch.optim.SGD([q], lr=0.1, momentum=0.9, nesterov=True)),
        (AdaGrad(0.1, eps=1e-10), lambda q: torch.optim.Adagrad([q], lr=0.1, eps=1e-10)),
        (RMSProp(0.01, rho=0.9), lambda q: torch.optim.RMSprop([q], lr=0.01, alpha=0.9)),
        (Adam(0.01, weight_decay=0.1), lambda q: torch.optim.Adam([q], lr=0.01, weight_decay=0.1)),
        (AdamW(0.01, weight_decay=0.1), lambda q: torch.optim.AdamW([q], lr=0.01, weight_decay=0.1)),
    ]
    p0, grads = vectors(rng, 5)
    for ours, make_theirs in pairs:
        q = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
        theirs = make_theirs(q)
        for g in grads:
            q.grad = torch.tensor(g, dtype=torch.float64)
            theirs.step()
        got = run(ours, p0, grads)[-1]
        assert_close(got, q.detach().numpy(), rtol=1e-9, atol=1e-12, what=repr(ours))


@pytest.mark.parametrize("opt", [SGD(0.05), SGD(0.05, momentum=0.9),
                                 SGD(0.05, momentum=0.9, nesterov=True), AdaGrad(0.05),
                                 RMSProp(0.005), Adam(0.01), AdamW(0.01, weight_decay=0.01)],
                         ids=repr)
def test_every_optimizer_trains_a_network(rng, opt):
    X = rng.standard_normal((128, 4))
    y = np.tanh(X[:, :2] - X[:, 2:])
    net = Network([Dense(4, 16, activation="prelu"), Dense(16, 2)], loss="sum_of_squares", seed=0)
    hist = net.fit(X, y, epochs=30, batch_size=16, optimizer=opt, verbose=False)
    assert hist["loss"][-1] < hist["loss"][0] / 4
