"""The same MLP and recipe as fastnet, written with NumPy (BLAS) and with PyTorch, for
compare.py and time_to_98.py.

Both peers start from a fastnet network's initial weights, see the same minibatches in
the same order as ``Network.fit`` (one ``numpy.random.default_rng(seed)`` permutation
per epoch), gather each batch from the uint8 images scaled by 1/255 as fastnet does, and
use fastnet's schedule objects for the per-epoch learning rate. Matrix products (``@``,
``torch.nn.Linear``) are fine here: only fastnet's kernels must be loop-only.
"""
import importlib.util
import sys
import time
from dataclasses import dataclass

import numpy as np

import fastnet as fn
from benchmarks import common


@dataclass
class Recipe:
    """Network width and SGD-momentum training recipe shared by every implementation
    (describe() leaves out the batch size, which compare.py varies)."""

    hidden: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 2e-4
    schedule_epochs: int = 10   # length of the cosine schedule
    batch_size: int = 128
    seed: int = 0

    def describe(self):
        return (f"784-{self.hidden}-10 ReLU, softmax cross-entropy, SGD momentum "
                f"{self.momentum}, lr {self.lr}, weight decay {self.weight_decay:g}, cosine "
                f"over {self.schedule_epochs} epochs, seed {self.seed}")

    def network(self):
        return common.mnist_network(self.hidden, self.seed)

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
    """float32 rows X[idx] / 255 from uint8 images."""
    return X[idx] * np.float32(1 / 255)


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


def epochs(model, X, y, n_epochs, recipe):
    """Train ``model`` (a NumpyMLP or TorchMLP) like ``Network.fit``, one epoch per
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
    """One untimed step, for the first-call overheads (thread pools, allocator, lazy
    imports). It changes the weights: give it a throwaway model."""
    model.step(X, y, np.arange(min(recipe.batch_size, len(X))), recipe.lr_at(0))


def torch_skipped(skip):
    """Why PyTorch is left out (a message), or None when it is used. Looks for it without
    importing it: that alone takes ~180 MB, which would count in fastnet's peak RSS."""
    if skip:
        return "PyTorch skipped (--skip-torch)."
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed: skipped (pip install torch to include it)."
    return None


def mnist(limit=None):
    """((X, y), (X_test, y_test)): uint8 images, int64 labels (as torch wants them);
    with ``limit`` only the first ``limit`` training images."""
    (X, y), (X_test, y_test) = fn.load_mnist()
    if limit:
        X, y = X[:limit], y[:limit]
    return (X, y.astype(np.int64)), (X_test, y_test.astype(np.int64))


def torch_version():
    """The version of the PyTorch already imported by a TorchMLP, or 'not used'."""
    torch = sys.modules.get("torch")
    return torch.__version__ if torch is not None else "not used"
