"""The same MLP and recipe as fastnet, written with NumPy (BLAS), PyTorch and JAX, for
compare.py, grid.py and time_to_98.py.

Every peer starts from a fastnet network's initial weights, sees the same minibatches in
the same order as ``Network.fit`` (one ``numpy.random.default_rng(seed)`` permutation
per epoch), gathers each batch from the uint8 images scaled by 1/255 as fastnet does (or
from float32 inputs as they are), and uses fastnet's schedule objects for the per-epoch
learning rate. Matrix products (``@``, ``torch.nn.Linear``, ``jnp.matmul``) are fine here:
only fastnet's kernels must be loop-only. PyTorch and JAX are optional (the ``peers``
extra): a script leaves out whichever is missing, with a one-line note.
"""
import functools
import importlib.util
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

import _common
import fastnet as fn
from fastnet.inputs import looks_sparse
from benchmarks import common


@dataclass
class Recipe:
    """Network width and SGD-momentum training recipe shared by every implementation
    (describe() leaves out the batch size, which compare.py varies)."""

    hidden: int = 256
    depth: int = 1              # hidden layers, each ``hidden`` wide
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    schedule_epochs: int = 10   # length of the cosine schedule
    batch_size: int = 128
    seed: int = 0

    def layers(self):
        """Layer sizes, e.g. (784, 256, 10)."""
        return (784,) + (self.hidden,) * self.depth + (10,)

    def describe(self):
        return (f"{'-'.join(map(str, self.layers()))} ReLU, softmax cross-entropy, SGD momentum "
                f"{self.momentum}, lr {self.lr}, weight decay {self.weight_decay:g}, cosine "
                f"over {self.schedule_epochs} epochs, seed {self.seed}")

    def network(self, X=None):
        """fastnet's network, its first layer laid out for inputs like X (as ``fastnet
        train`` does: ``fastnet.inputs.looks_sparse``; sparse without X)."""
        sparse = X is None or looks_sparse(X)
        return common.mlp_network(self.layers(), self.seed, sparse_inputs=sparse)

    def optimizer(self):
        return common.sgd_recipe(self.schedule_epochs, self.lr, self.momentum,
                                 self.weight_decay)

    def lr_at(self, epoch):
        """The learning rate of 0-based ``epoch``, exactly as fastnet's optimizer sets it."""
        return self.lr * fn.Cosine(self.schedule_epochs)(epoch)


def initial_weights(net):
    """Copies of a fastnet network's [(W, b), ...] (W is (out, in) like torch's Linear)."""
    return [(layer.W.copy(), layer.b.copy()) for layer in net.layers]


def images(X, idx):
    """float32 rows X[idx] / 255 from uint8 images; rows X[idx] of float32 inputs."""
    return X[idx] * np.float32(1 / 255) if X.dtype == np.uint8 else X[idx]


class NumpyMLP:
    """ReLU hidden layers, softmax output, SGD momentum in fastnet's form
    v ← μ v − η (∇ + λ p), p ← p + v; every product a float32 BLAS sgemm. A competitor
    written for speed (in place, BLAS), not a reference: the plain NumPy of each kernel's
    equation is fastnet.kernels.reference."""

    name = "numpy-blas"

    def __init__(self, weights, recipe):
        self.params = [p.copy() for layer in weights for p in layer]
        self.velocity = [np.zeros_like(p) for p in self.params]
        self.recipe = recipe

    def _forward(self, x):
        """Pre-activations u and outputs z of every layer (z of the last = logits)."""
        us, zs = [], [x]
        n_layers = len(self.params) // 2
        for i in range(n_layers):
            W, b = self.params[2 * i], self.params[2 * i + 1]
            u = zs[-1] @ W.T
            u += b
            us.append(u)
            zs.append(np.maximum(u, 0) if i < n_layers - 1 else u)
        return us, zs

    def step(self, X, y, idx, lr):
        x = images(X, idx)
        us, zs = self._forward(x)
        logits = zs[-1]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(idx)), y[idx]] -= 1
        delta = p / len(idx)                     # δ = (softmax(u) - d) / B
        grads = [None] * len(self.params)
        for i in range(len(self.params) // 2 - 1, -1, -1):
            grads[2 * i] = delta.T @ zs[i]
            grads[2 * i + 1] = delta.sum(axis=0)
            if i > 0:
                delta = (delta @ self.params[2 * i]) * (us[i - 1] >= 0)
        r = self.recipe
        for p_, v, g in zip(self.params, self.velocity, grads):
            g += r.weight_decay * p_
            v *= r.momentum
            v -= lr * g
            p_ += v

    def accuracy(self, X, y, batch=1000):
        correct = 0
        for s in range(0, len(X), batch):
            idx = np.arange(s, min(s + batch, len(X)))
            correct += int((self._forward(images(X, idx))[1][-1].argmax(axis=1) == y[idx]).sum())
        return correct / len(X)


class TorchMLP:
    """The same network in PyTorch: nn.Linear + ReLU, F.cross_entropy (mean over the batch),
    torch.optim.SGD(momentum, weight_decay). Torch's momentum is b ← μ b + ∇, p ← p − η b;
    for a constant η that is fastnet's v ← μ v − η ∇ with v = −η b. At the epochs where the
    cosine schedule changes η, torch rescales the whole accumulated b by the new η, fastnet
    only the new gradient: a small difference in the trajectory, none in the cost."""

    name = "pytorch"

    def __init__(self, weights, recipe, threads):
        import torch
        self.torch = torch
        torch.set_num_threads(threads)
        layers = []
        for i, (W, b) in enumerate(weights):
            linear = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if i < len(weights) - 1:
                layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=recipe.lr,
                                   momentum=recipe.momentum, weight_decay=recipe.weight_decay)

    def _inputs(self, X, idx):
        return self.torch.from_numpy(images(X, idx))

    def step(self, X, y, idx, lr):
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        logits = self.model(self._inputs(X, idx))
        loss = self.torch.nn.functional.cross_entropy(logits, self.torch.from_numpy(y[idx]))
        loss.backward()
        self.opt.step()

    def accuracy(self, X, y, batch=1000):
        correct = 0
        with self.torch.no_grad():
            for s in range(0, len(X), batch):
                idx = np.arange(s, min(s + batch, len(X)))
                pred = self.model(self._inputs(X, idx)).argmax(dim=1).numpy()
                correct += int((pred == y[idx]).sum())
        return correct / len(X)


@functools.lru_cache(maxsize=1)
def start_jax(threads):
    """Import JAX and start its CPU backend with ``threads`` worker threads; returns jax.
    XLA sizes its thread pool by the CPUs this thread may run on when the backend starts
    and has no flag for it (XLA_FLAGS' --xla_cpu_multi_thread_eigen and
    intra_op_parallelism_threads change nothing in jaxlib 0.10): so this thread is held to
    its first ``threads`` CPUs while the backend starts, then set free. XLA's workers stay
    on those CPUs; Numba's, the BLAS's and PyTorch's threads are not affected. The first
    call decides for the whole process."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if threads < len(cpus):
        os.sched_setaffinity(0, sorted(cpus)[:threads])
    try:
        jax.devices("cpu")
    finally:
        if threads < len(cpus):
            os.sched_setaffinity(0, cpus)
    return jax


@functools.lru_cache(maxsize=None)
def jax_train_step(momentum, weight_decay):
    """The jitted train step of JaxMLP: (params, velocity, x, y, lr) -> (params, velocity),
    one per (momentum, weight decay) so that every JaxMLP reuses its compiled code (jit
    compiles once per shape)."""
    import jax
    import jax.numpy as jnp

    def loss(params, x, y):
        z = x
        for i, (W, b) in enumerate(params):
            u = z @ W.T + b
            z = jnp.where(u >= 0, u, 0) if i < len(params) - 1 else u  # relu'(0) = 1, as NumPy's
        log_p = jax.nn.log_softmax(z)
        return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))

    def step(params, velocity, x, y, lr):
        grads = jax.grad(loss)(params, x, y)
        velocity = jax.tree.map(lambda v, g, p: momentum * v - lr * (g + weight_decay * p),
                                velocity, grads, params)
        params = jax.tree.map(lambda p, v: p + v, params, velocity)
        return params, velocity

    return jax.jit(step, donate_argnums=(0, 1))


class JaxMLP:
    """The same network and update as NumpyMLP in jax.numpy, float32 on the CPU, the whole
    train step (forward, gradient by ``jax.grad``, momentum update) one ``jax.jit``
    function; ``threads`` XLA threads (``start_jax``)."""

    name = "jax"

    def __init__(self, weights, recipe, threads):
        jax = self.jax = start_jax(threads)
        # copies (jnp.array): the step donates its buffers, never the shared NumPy weights
        self.params = [(jax.numpy.array(W), jax.numpy.array(b)) for W, b in weights]
        self.velocity = jax.tree.map(lambda p: jax.numpy.zeros_like(p), self.params)
        self._step = jax_train_step(recipe.momentum, recipe.weight_decay)

    def step(self, X, y, idx, lr):
        self.params, self.velocity = self._step(self.params, self.velocity, images(X, idx),
                                                y[idx].astype(np.int32), np.float32(lr))
        self.jax.block_until_ready(self.params)  # time the work, not its dispatch

    def weights(self):
        """[(W, b), ...] as NumPy arrays."""
        return [(np.asarray(W), np.asarray(b)) for W, b in self.params]

    def accuracy(self, X, y, batch=1000):
        correct, weights = 0, self.weights()
        for s in range(0, len(X), batch):
            idx = np.arange(s, min(s + batch, len(X)))
            z = images(X, idx)
            for i, (W, b) in enumerate(weights):
                z = z @ W.T + b
                z = np.maximum(z, 0) if i < len(weights) - 1 else z
            correct += int((z.argmax(axis=1) == y[idx]).sum())
        return correct / len(X)


def epochs(model, X, y, n_epochs, recipe):
    """Train ``model`` (a NumpyMLP, TorchMLP or JaxMLP) like ``Network.fit``, one epoch per
    ``next()``: yields each epoch's training seconds. y are int64 class ids."""
    n = len(X)
    rng = np.random.default_rng(recipe.seed)
    for epoch in range(n_epochs):
        lr = recipe.lr_at(epoch)
        order = rng.permutation(n)
        t0 = time.perf_counter()
        for s in range(0, n, recipe.batch_size):
            model.step(X, y, order[s:s + recipe.batch_size], lr)
        yield time.perf_counter() - t0


def warm_up(model, X, y, recipe):
    """Untimed steps of the batch sizes an epoch has (a full batch and the last, shorter
    one), for the first-call overheads (thread pools, allocator, lazy imports, JAX's
    compile of each shape). They change the weights: give it a throwaway model."""
    for size in {min(recipe.batch_size, len(X)), len(X) % recipe.batch_size} - {0}:
        model.step(X, y, np.arange(size), recipe.lr_at(0))


def run_interleaved(recipe, data, n_epochs, peers):
    """Train fastnet and every peer (name, build(weights, recipe)) from the same initial
    weights, taking turns epoch by epoch: fastnet's epoch 1, each peer's epoch 1 (called
    from fastnet's epoch-end callback, outside its timed epoch), fastnet's epoch 2, ...
    with an untimed ``_common.pause`` between turns. Each implementation first takes
    untimed warm-up steps on the same kind of inputs (fastnet: a one-epoch fit of a
    throwaway network, which compiles its kernels or loads them from Numba's cache).
    Returns {name: (per-epoch seconds, test accuracy or None without a test set)}."""
    (X, y), test = data
    n_warm = min(len(X), recipe.batch_size + 1)
    recipe.network(X).fit(X[:n_warm], y[:n_warm], epochs=1, batch_size=recipe.batch_size,
                          optimizer=recipe.optimizer(), verbose=False)
    net = recipe.network(X)
    weights = initial_weights(net)
    turns = []  # (name, model, generator of its epochs' seconds)
    for name, build in peers:
        warm_up(build(weights, recipe), X, y, recipe)
        model = build(weights, recipe)
        turns.append((name, model, epochs(model, X, y, n_epochs, recipe)))
    seconds = {name: [] for name, _ in peers}

    def peers_epoch(net, epoch, logs):
        for name, _, epoch_seconds in turns:
            _common.pause()
            seconds[name].append(next(epoch_seconds))
        _common.pause()

    _common.pause()
    history = net.fit(X, y, epochs=n_epochs, batch_size=recipe.batch_size,
                      optimizer=recipe.optimizer(), seed=recipe.seed, verbose=False,
                      callbacks=[fn.LambdaCallback(peers_epoch)])
    result = {"fastnet": (history["seconds"],
                          net.evaluate(*test)["accuracy"] if test else None)}
    for name, model, _ in turns:
        result[name] = (seconds[name], model.accuracy(*test) if test else None)
    return result


def torch_skipped(skip):
    """Why PyTorch is left out (a message), or None when it is used. Looks for it without
    importing it: that alone takes ~180 MB, which would count in fastnet's peak RSS."""
    if skip:
        return "PyTorch skipped (--skip-torch)."
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed: skipped (pip install torch to include it)."
    return None


def jax_skipped(skip):
    """Why JAX is left out (a message), or None when it is used (found without importing)."""
    if skip:
        return "JAX skipped (--skip-jax)."
    if importlib.util.find_spec("jax") is None:
        return 'JAX is not installed: skipped (pip install "jax[cpu]" to include it).'
    return None


def mnist(limit=None):
    """((X, y), (X_test, y_test)): uint8 images, int64 labels (as torch wants them);
    with ``limit`` only the first ``limit`` training images."""
    (X, y), (X_test, y_test) = fn.load_mnist()
    if limit:
        X, y = X[:limit], y[:limit]
    return (X, y.astype(np.int64)), (X_test, y_test.astype(np.int64))


def version(module):
    """The version of ``module`` ('torch', 'jax') if a peer has imported it, else 'not used'."""
    imported = sys.modules.get(module)
    return imported.__version__ if imported is not None else "not used"
