"""Time and peak memory of the dense kernels: forward, hidden δ and weight gradient.

Swept over batch B in (1, 32, 128, 512) and layer width OC in (256, 1024), with fan-in
C = 784. Every call is 2·B·C·OC flops. The thread count is ``common.threads()``, also
recorded by bench_training.Threads. ``FirstLayerKernels`` times the two kernels of a
network's first layer (W stored transposed) on MNIST images, whose zero blocks they skip.
"""
from . import common


class _Layer:
    """One dense layer 784 -> width, ReLU, float32 (``first``, ``images``: see
    ``common.dense_case``); setup compiles or loads ``kernels``, untimed."""

    params = [common.BATCHES, common.WIDTHS]
    param_names = ["batch", "width"]
    number = 5
    repeat = (1, 5, 4.0)
    timeout = 120
    first = images = False
    kernels = (common.forward, common.weight_grad)

    def setup(self, batch, width):
        self.case = common.dense_case(batch, common.FAN_IN, width, first=self.first,
                                      images=self.images)
        for kernel in self.kernels:
            kernel(self.case)

    def time_forward(self, batch, width):
        common.forward(self.case)

    def time_weight_grad(self, batch, width):
        common.weight_grad(self.case)


class DenseKernels(_Layer):
    """A hidden layer's layout, W (OC, C), on random inputs."""

    kernels = tuple(common.KERNELS.values())

    def time_hidden_delta(self, batch, width):
        common.hidden_delta(self.case)

    def peakmem_forward(self, batch, width):
        common.forward(self.case)

    def peakmem_hidden_delta(self, batch, width):
        common.hidden_delta(self.case)

    def peakmem_weight_grad(self, batch, width):
        common.weight_grad(self.case)


class FirstLayerKernels(_Layer):
    """A network's first layer, Wᵀ (C, OC) stored, on MNIST images."""

    first = images = True
