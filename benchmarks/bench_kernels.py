"""Time and peak memory of the dense kernels: forward, hidden δ and weight gradient.

Swept over batch B in (1, 32, 128, 512) and layer width OC in (256, 1024), with fan-in
C = 784. Every call is 2·B·C·OC flops. The thread count is ``common.threads()``, also
recorded by bench_training.Threads. ``FirstLayerKernels`` times the two kernels of a
network's first layer (W stored transposed) on MNIST images, whose zero blocks they skip.
``WideKernels`` and ``WideGflops`` take wide hidden layers, width -> width at batch 256
for widths 1024, 2048 and 4096: their times, and the GFLOP/s of each kernel beside those
of NumPy's sgemm (np.matmul, float32) of the same shape.
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


class _Wide:
    """A hidden layer width -> width, W (OC, C), batch common.WIDE_BATCH, random inputs;
    setup compiles or loads the three kernels, untimed."""

    params = [common.WIDE_WIDTHS]
    param_names = ["width"]
    timeout = 300

    def setup(self, width):
        self.case = common.dense_case(common.WIDE_BATCH, width, width)
        for kernel in common.KERNELS.values():
            kernel(self.case)


class WideKernels(_Wide):
    """Seconds per call of each kernel on a wide layer."""

    number = 1
    repeat = (1, 5, 10.0)

    def time_forward(self, width):
        common.forward(self.case)

    def time_weight_grad(self, width):
        common.weight_grad(self.case)

    def time_hidden_delta(self, width):
        common.hidden_delta(self.case)


class WideGflops(_Wide):
    """GFLOP/s of each kernel on a wide layer (best of 3 rounds), and of np.matmul of the
    same shape (sgemm) beside it: the kernels' add the bias and ReLU, sum the bias
    gradient or multiply by ReLU' too, np.matmul does the product alone."""

    unit = "GFLOP/s"

    def track_forward(self, width):
        return common.gflops(common.forward, self.case)

    def track_forward_sgemm(self, width):
        return common.gflops(common.MATMUL["forward"], self.case)

    def track_weight_grad(self, width):
        return common.gflops(common.weight_grad, self.case)

    def track_weight_grad_sgemm(self, width):
        return common.gflops(common.MATMUL["weight_grad"], self.case)

    def track_hidden_delta(self, width):
        return common.gflops(common.hidden_delta, self.case)

    def track_hidden_delta_sgemm(self, width):
        return common.gflops(common.MATMUL["hidden_delta"], self.case)
