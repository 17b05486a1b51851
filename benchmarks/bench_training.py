"""A full MNIST training epoch through the public API: Network.fit, 784-256-10 ReLU,
batch 128, SGD momentum 0.9, lr 0.1, weight decay 2e-4 (fastnet's CLI default); and one
training step of a wide network, 784-2048-2048-10 at batch 256."""
import numpy as np

import fastnet

from . import common


def _mnist():
    (X, y), (X_test, y_test) = fastnet.load_mnist()
    return X, y, X_test, y_test


class MnistEpoch:
    number = 1
    repeat = (1, 3, 30.0)
    timeout = 300

    def setup(self):
        self.X, self.y, _, _ = _mnist()
        common.warm_up(128)
        self.net = common.mnist_network()

    def time_epoch_batch128(self):
        self.net.fit(self.X, self.y, epochs=1, batch_size=128, optimizer=common.sgd_recipe(1),
                     verbose=False)

    def peakmem_epoch_batch128(self):
        self.net.fit(self.X, self.y, epochs=1, batch_size=128, optimizer=common.sgd_recipe(1),
                     verbose=False)


class MnistAccuracy:
    """Test accuracy after one epoch (a check that the timed work still learns)."""

    unit = "percent"
    timeout = 300

    def setup(self):
        self.data = _mnist()
        common.warm_up(128)

    def track_test_accuracy_1_epoch(self):
        X, y, X_test, y_test = self.data
        net = common.mnist_network()
        net.fit(X, y, epochs=1, batch_size=128, optimizer=common.sgd_recipe(1), verbose=False)
        # a multiple of 0.01 % (10 000 test images): rounded, so 96.42 is not 96.41999999999999
        return round(100 * net.evaluate(X_test, y_test)["accuracy"], 2)


class Threads:
    """The Numba thread count the other benchmarks ran with."""

    unit = "threads"

    def track_numba_threads(self):
        return common.threads()


class WideTrainingStep:
    """One SGD-momentum step of ``layers`` on ``batch`` random dense float32 inputs: a
    Network.fit of one epoch of one batch (its per-call checks included, a small part of
    the ~8 GFLOP step). Setup builds the network and fits once, untimed (kernel compile
    or cache load)."""

    layers = (784, 2048, 2048, 10)
    batch = 256
    number = 1
    repeat = (1, 5, 20.0)
    timeout = 300

    def setup(self):
        rng = np.random.default_rng(0)
        self.X = rng.standard_normal((self.batch, self.layers[0])).astype(np.float32)
        self.y = rng.integers(0, self.layers[-1], self.batch)
        self.net = common.mlp_network(self.layers)
        self.time_train_step()

    def time_train_step(self):
        self.net.fit(self.X, self.y, epochs=1, batch_size=self.batch,
                     optimizer=common.sgd_recipe(1), verbose=False)
