"""Time and peak memory of one optimizer update on a flat vector of 784·1024 + 1024
parameters (a 784-1024 layer with its bias)."""
from . import common


class OptimizerUpdate:
    params = [common.OPTIMIZERS]
    param_names = ["optimizer"]
    number = 5
    repeat = (1, 5, 4.0)
    timeout = 60

    def setup(self, name):
        self.case = common.optimizer_case(name)
        common.optimizer_step(self.case)  # compile / load the JIT cache, untimed

    def time_update(self, name):
        common.optimizer_step(self.case)

    def peakmem_update(self, name):
        common.optimizer_step(self.case)
