"""Time and peak memory of the dense kernels: forward, hidden δ and weight gradient.

Swept over batch B in (1, 32, 128, 512) and layer width OC in (256, 1024), with fan-in
C = 784. Every call is 2·B·C·OC flops. The thread count is ``common.threads()``, also
recorded by bench_training.Threads.
"""
from . import common


class DenseKernels:
    """One dense layer 784 -> width, ReLU, float32."""

    params = [common.BATCHES, common.WIDTHS]
    param_names = ["batch", "width"]
    number = 5
    repeat = (1, 5, 4.0)
    timeout = 120

    def setup(self, batch, width):
        self.case = common.dense_case(batch, common.FAN_IN, width)
        for kernel in common.KERNELS.values():  # compile / load the JIT cache, untimed
            kernel(self.case)

    def time_forward(self, batch, width):
        common.forward(self.case)

    def time_hidden_delta(self, batch, width):
        common.hidden_delta(self.case)

    def time_weight_grad(self, batch, width):
        common.weight_grad(self.case)

    def peakmem_forward(self, batch, width):
        common.forward(self.case)

    def peakmem_hidden_delta(self, batch, width):
        common.hidden_delta(self.case)

    def peakmem_weight_grad(self, batch, width):
        common.weight_grad(self.case)
