"""Numba kernels: pure array math, explicit loops, no allocation, no BLAS.

Size legend used in every shape comment:
    B  = samples in the minibatch
    C  = input features of a dense layer (fan-in)
    OC = output units of a dense layer (fan-out)
    K  = outputs of the network (classes or regression targets)
    N  = number of elements of a flat parameter vector
Arguments are ordered outputs first, then inputs, then scalars (llm.c style).
"""
