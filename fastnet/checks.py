"""Argument checks for the public API (never inside kernels).

Every failure is a ``TypeError`` (the wrong kind of value) or a ``ValueError``
(the right kind, a bad value) whose message names the argument, says what was
expected and shows what was given, e.g.

    batch_size must be an integer >= 1, got 0
    lr (learning rate) must be a finite number > 0, got nan
    unknown activation 'rellu'; expected one of ('identity', ...); did you mean 'relu'?
"""
import difflib
import math
import numbers

import numpy as np


def _given(value):
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def integer(name, value, minimum=None):
    """``value`` as an int (bools and floats are rejected), ``>= minimum`` if given."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {_given(value)}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return value


def _interval(low, high, low_open, high_open):
    if high is None:
        return f"{'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"{'<' if high_open else '<='} {high:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def real(name, value, low=None, high=None, low_open=False, high_open=False):
    """``value`` as a finite float inside the interval (None = unbounded side)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_given(value)}")
    value = float(value)
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        where = "" if low is None and high is None else " " + _interval(low, high, low_open,
                                                                       high_open)
        raise ValueError(f"{name} must be a finite number{where}, got {value!r}")
    return value


def positive(name, value, allow_zero=False):
    """A finite float > 0 (or >= 0 with ``allow_zero``)."""
    return real(name, value, 0.0, low_open=not allow_zero)


def fraction(name, value):
    """A float in [0, 1): momentum, β, ρ, validation_split."""
    return real(name, value, 0.0, 1.0, high_open=True)


def choice(name, value, options):
    """``value`` must be one of the string ``options``; suggests a close match."""
    options = tuple(options)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {options}; got {_given(value)}")
    if value not in options:
        close = difflib.get_close_matches(value, options, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown {name} {value!r}; expected one of {options}{hint}")
    return value


def boolean(name, value):
    """A flag: True or False (NumPy bools too); 0/1 and strings like "no" are rejected."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_given(value)}")
    return bool(value)


def seed(name, value):
    """A seed for ``np.random.default_rng``: None or an integer >= 0."""
    return None if value is None else integer(name, value, 0)


def build(kind, spec, registry):
    """``registry[spec["name"]](**rest of spec)`` for a config dict, with errors naming
    ``kind`` (a missing or unknown name, an unknown keyword)."""
    spec = dict(spec)
    if "name" not in spec:
        raise ValueError(f"{kind} dict needs a 'name' key, one of {tuple(registry)}; "
                         f"got {spec!r}")
    name = choice(kind, spec.pop("name"), registry)
    try:
        return registry[name](**spec)
    except TypeError as e:
        if "argument" not in str(e):
            raise
        raise TypeError(f"bad arguments for {kind} {name!r} {sorted(spec)}: {e}") from None


def fit_arguments(epochs, batch_size, validation_split, seed_, callbacks):
    """Check ``fit``'s scalar arguments; returns (epochs, batch_size, validation_split)."""
    epochs = integer("epochs", epochs, 0)
    batch_size = integer("batch_size", batch_size, 1)
    validation_split = fraction("validation_split", validation_split)
    seed("seed", seed_)
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list or tuple of callback objects, "
                        f"got {_given(callbacks)}")
    for i, cb in enumerate(callbacks):
        if not callable(getattr(cb, "on_epoch_end", None)):
            raise TypeError(f"callbacks[{i}] must have a method on_epoch_end(net, epoch, "
                            f"logs), got {_given(cb)}")
    return epochs, batch_size, validation_split


CHUNK_BYTES = 1 << 22   # bytes of rows ``nonfinite`` reads at once
FINITE_MARK = "fastnet_finite_as"   # set on a read-only memmap found finite: the dtype


def nonfinite(A, dtype=None):
    """None when every value of A is finite, else (count, index, value): how many NaN or
    infinite values A holds, the index of the first (row-major) and its value. With
    ``dtype``, a value counts as infinite when that dtype cannot hold it (float64 beyond
    float32's range). Reads chunks of rows (a memory-mapped A is never loaded whole); a
    read-only ``np.memmap`` found finite is marked so, and is not read again."""
    dtype = np.dtype(A.dtype if dtype is None else dtype)
    if A.dtype.kind != "f" or A.size == 0 or getattr(A, FINITE_MARK, None) == dtype.str:
        return None
    table = A.reshape(1) if A.ndim == 0 else A   # a number is checked as one row
    rows = max(CHUNK_BYTES // max(table.nbytes // len(table), 1), 1)
    count, first = 0, None
    with np.errstate(over="ignore"):
        for start in range(0, len(table), rows):
            chunk = table[start:start + rows]
            held = chunk if chunk.dtype == dtype else chunk.astype(dtype)
            if np.isfinite(held.min()) and np.isfinite(held.max()):
                continue
            bad = ~np.isfinite(held)
            count += int(bad.sum())
            if first is None:
                at = tuple(int(i) for i in np.argwhere(bad)[0])
                first = ((start + at[0],) + at[1:], chunk[at].item())
    if first is None:
        if isinstance(A, np.memmap) and not A.flags.writeable:
            setattr(A, FINITE_MARK, dtype.str)
        return None
    index = first[0] if A.ndim else ()
    return count, index, first[1]
