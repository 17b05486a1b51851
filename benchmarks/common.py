"""Shared pieces of the benchmarks and of tools/compare.py.

This is the ONE place that calls fastnet's kernels directly: when a kernel's signature
changes, only the functions below change. Everything else goes through ``Network`` and
``fit``.

A dense case is one layer with fan-in C and fan-out OC on a batch of B samples::

    forward       u, z (B, OC)  =  relu(x (B, C) · W (OC, C)^T + bias)
    weight grad   dW (OC, C)    =  δ (B, OC)^T · x (B, C),   dbias = Σ_b δ
    hidden δ      δ_prev (B, C) =  relu'(x) ⊙ (δ (B, OC) · W (OC, C))

Each costs 2·B·C·OC floating-point operations; ``MATMUL`` holds the NumPy (BLAS) product
of the same shape, so the two can be compared in GFLOP/s. A ``first`` case is a network's
first layer: W stored transposed, Wᵀ (C, OC), as ``Network`` keeps it, and with
``images`` its x is a batch of MNIST images (81 % zeros), whose all-zero 4 × 4 blocks the
kernels skip; its GFLOP/s then count the 2·B·C·OC of the dense product ("effective").
"""
import os
import time
from types import SimpleNamespace

import numba
import numpy as np

import fastnet as fn
from fastnet import catalogue, config, passes
from fastnet.config import FLOAT
from fastnet.kernels import activations, dense, optim

RELU = activations.NAMES["relu"]

# The sizes the kernel benchmarks sweep: batch B x layer width OC (fan-in C = 784, MNIST).
BATCHES = [1, 32, 128, 512]
WIDTHS = [256, 1024]
FAN_IN = 784
# The wide layers (width -> width, batch WIDE_BATCH) timed beside sgemm of their shape.
WIDE_WIDTHS = [1024, 2048, 4096]
WIDE_BATCH = 256
# One flat parameter vector the size of a 784-1024 layer with its bias.
N_PARAMS = 784 * 1024 + 1024
OPTIMIZERS = list(catalogue.OPTIMIZERS)
MNIST_LAYERS = (784, 256, 10)


def threads():
    """Numba's thread count: the parallelism every kernel number was measured with."""
    return numba.get_num_threads()


# ---------------------------------------------------------------- dense kernels
def mnist_images(n):
    """The first n MNIST training images as float32 in [0, 1] (n, 784)."""
    (X, _), _ = fn.datasets.load_mnist()
    return (X[:n] / FLOAT(255)).astype(FLOAT)


def dense_case(batch, fan_in, fan_out, seed=0, first=False, images=False):
    """Random float32 inputs and output buffers for one dense layer (see module doc);
    ``first``: the first layer's layout, W stored transposed; ``images``: x holds MNIST
    images (fan_in must be 784)."""
    rng = np.random.default_rng(seed)

    def rand(*shape):
        return rng.standard_normal(shape).astype(FLOAT)

    w = rand(fan_out, fan_in) * FLOAT(0.05)
    w_stored = np.ascontiguousarray(w.T) if first else w
    dw, dbias = np.empty_like(w_stored), np.empty(fan_out, FLOAT)
    return _aligned_arrays(SimpleNamespace(
        batch=batch, fan_in=fan_in, fan_out=fan_out, first=first,
        x=mnist_images(batch) if images else rand(batch, fan_in), w=w, w_stored=w_stored,
        bias=rand(fan_out),
        # the first layer's partial sums of a training batch, as Network's workspace holds
        partial=np.empty(dense.partial_shape(batch, fan_out), FLOAT),
        slope=np.zeros((1, fan_out), FLOAT), slope_prev=np.zeros((1, fan_in), FLOAT),
        u=np.empty((batch, fan_out), FLOAT), z=np.empty((batch, fan_out), FLOAT),
        delta=rand(batch, fan_out), dw=dw, dbias=dbias,
        delta_prev=np.empty((batch, fan_in), FLOAT), dz_prev=np.empty((batch, fan_in), FLOAT),
        # the packed kernels' operands, as a workspace holds them
        scratch=np.empty(max(passes.layer_scratch(batch, fan_in, fan_out,
                                                  FLOAT().itemsize).values()), FLOAT)))


def _aligned_arrays(ns):
    """``ns`` with each array moved to a 64-byte boundary, as ``Network`` allocates
    its parameters and workspaces (``fastnet.config.empty``): the kernels' speed
    depends on it (see there), so a benchmark must not leave it to chance."""
    for name, value in vars(ns).items():
        if isinstance(value, np.ndarray):
            setattr(ns, name, config.aligned_copy(value))
    return ns


def _packed(rule, c):
    """Whether a network runs the register-blocked form of a kernel on case ``c``."""
    return rule(c.batch, c.fan_in, c.fan_out, c.w.itemsize)


def forward(c):
    """u = x W^T + bias, z = relu(u), by the kernel a network runs (the packed one for a
    wide layer, ``dense.forward_packed``)."""
    if c.first:
        dense.dense_forward_in_major(c.u, c.z, c.partial, c.x, c.w_stored, c.bias, c.slope, RELU)
    elif _packed(dense.forward_packed, c):
        dense.dense_forward_packed(c.u, c.z, c.x, c.w_stored, c.bias, c.slope, RELU,
                                   c.scratch)
    else:
        dense.dense_forward(c.u, c.z, c.x, c.w_stored, c.bias, c.slope, RELU)


def weight_grad(c):
    """dW = δ^T x (dWᵀ = xᵀ δ for the first layer), dbias = Σ_b δ: ``dense_gradient``, or
    for a wide layer the packed kernel (the listed one for a wide first layer) with no
    optimizer step, as a network's gradient pass runs it (``dense.gradient_packed``,
    ``dense.gradient_listed``)."""
    packed = ()
    if dense.gradient_listed(c.fan_in, c.fan_out, c.first):
        kernel = dense.dense_backward_params_listed
    elif dense.gradient_packed(c.batch, c.fan_in, c.fan_out, c.first, c.w.itemsize):
        kernel, packed = dense.dense_backward_params_packed, (c.scratch,)
    else:
        dense.dense_gradient(c.dw, c.dbias, c.delta, c.x, c.first)
        return
    kernel(c.dw, c.dbias, (c.w_stored,) * 3, (c.bias,) * 3, c.delta, c.x, optim.NO_HYPER,
           c.first, optim.NO_UPDATE, *packed)


def hidden_delta(c):
    """δ_prev = relu'(x) ⊙ (δ W), taking x as the layer below's u and z (the packed kernel
    for a wide layer, ``dense.delta_packed``)."""
    if _packed(dense.delta_packed, c):
        dense.hidden_delta_packed(c.delta_prev, c.dz_prev, c.delta, c.w, c.x, c.x, c.slope_prev,
                                  RELU, c.scratch)
    else:
        dense.hidden_delta(c.delta_prev, c.dz_prev, c.delta, c.w, c.x, c.x, c.slope_prev, RELU)


KERNELS = {"forward": forward, "weight_grad": weight_grad, "hidden_delta": hidden_delta}

# The BLAS product each kernel's arithmetic amounts to (float32, into the same buffer).
MATMUL = {
    "forward": lambda c: np.matmul(c.x, c.w.T, out=c.u),
    "weight_grad": lambda c: np.matmul(c.delta.T, c.x, out=c.dw.T if c.first else c.dw),
    "hidden_delta": lambda c: np.matmul(c.delta, c.w, out=c.dz_prev),
}


def flops(c):
    """Multiply-adds x 2 of any of the three dense kernels on case ``c``."""
    return 2.0 * c.batch * c.fan_in * c.fan_out


def gflops(fn, c, repeat=3, min_seconds=0.02):
    """GFLOP/s of ``fn(c)`` (a KERNELS or MATMUL entry): 2·B·C·OC flops over its best
    time (``best_times``)."""
    return flops(c) / best_times((fn,), c, repeat=repeat, min_seconds=min_seconds)[0] / 1e9


# ---------------------------------------------------------------- optimizers
def optimizer_case(name, n=N_PARAMS, seed=0):
    """Parameters, gradient, the optimizer's state vectors (zeros) of length n, and the
    rule code and hyper-parameters its kernel takes (lr 0.01, weight decay 2e-4, AdamW's
    default 0.01)."""
    rng = np.random.default_rng(seed)
    p = config.aligned_copy((rng.standard_normal(n) * 0.05).astype(FLOAT))
    g = config.aligned_copy((rng.standard_normal(n) * 0.01).astype(FLOAT))
    opt = fn.optimizers.make_optimizer({"name": name, "lr": 0.01} if name == "adamw" else
                                       {"name": name, "lr": 0.01, "weight_decay": 2e-4})
    kind, h, s1, s2 = opt.begin_step(p, g)
    return SimpleNamespace(name=name, p=p, g=g, kind=kind, h=h, s1=s1, s2=s2)


def optimizer_step(c):
    """One update of c.p by optimizer c.name: the kernel alone."""
    optim.optimizer_update(c.p, c.s1, c.s2, c.g, c.h, c.kind)


# ---------------------------------------------------------------- timing
def best_times(fns, *args, repeat=7, min_seconds=0.05, pauses=None):
    """Seconds per call of each fn(*args) in ``fns``: the best of ``repeat`` rounds, each
    long enough to last ``min_seconds``. The functions take turns round by round, so a
    machine whose speed drifts weighs on all of them alike. After each round of fns[i]
    the script sleeps pauses[i] seconds (untimed; default 0): for a BLAS, long enough for
    its spinning threads to go to sleep before the next function runs. The first call of
    each (JIT compile or cache load) is not timed, nor the first call of each round (it
    wakes the threads that slept through a pause)."""
    pauses = pauses or [0.0] * len(fns)
    numbers = []
    for fn, pause in zip(fns, pauses):
        fn(*args)
        number = 1
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                fn(*args)
            if time.perf_counter() - t0 >= min_seconds:
                break
            number *= 2
        numbers.append(number)
        time.sleep(pause)
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, (fn, number, pause) in enumerate(zip(fns, numbers, pauses)):
            fn(*args)  # untimed: wakes the threads that slept through the pauses
            t0 = time.perf_counter()
            for _ in range(number):
                fn(*args)
            best[i] = min(best[i], (time.perf_counter() - t0) / number)
            time.sleep(pause)
    return best


# ---------------------------------------------------------------- networks
def mnist_network(hidden=256, seed=0):
    """The benchmark network 784-hidden-10, ReLU, softmax cross-entropy."""
    return fn.Network([fn.Dense(784, hidden, activation="relu"), fn.Dense(hidden, 10)],
                      loss="softmax_cross_entropy", seed=seed)


def mlp_network(sizes, seed=0, sparse_inputs=True):
    """ReLU hidden layers of ``sizes`` (e.g. (784, 2048, 2048, 10)), softmax cross-entropy."""
    layers = [fn.Dense(n_in, n_out, activation="relu") for n_in, n_out in zip(sizes, sizes[1:-1])]
    layers.append(fn.Dense(sizes[-2], sizes[-1]))
    return fn.Network(layers, loss="softmax_cross_entropy", seed=seed,
                      sparse_inputs=sparse_inputs)


def sgd_recipe(epochs, lr=0.1, momentum=0.9, weight_decay=2e-4):
    """fastnet's CLI default: SGD momentum 0.9, lr 0.1, weight decay 2e-4, cosine over
    the epochs."""
    return fn.SGD(lr, momentum=momentum, weight_decay=weight_decay, schedule=fn.Cosine(epochs))


def warm_up(batch_size=128, hidden=256):
    """Compile (or load from the cache) every kernel a training run and an evaluation
    use, on a throwaway network and a tiny random data set. Returns the seconds taken."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (batch_size + 1, 784), dtype=np.uint8)
    y = rng.integers(0, 10, batch_size + 1)
    net = mnist_network(hidden)
    net.fit(X, y, epochs=1, batch_size=batch_size, optimizer=sgd_recipe(1), verbose=False)
    net.evaluate(X, y)
    return time.perf_counter() - t0


def cpu_model():
    """The CPU's name from /proc/cpuinfo (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown CPU"


def cores():
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
