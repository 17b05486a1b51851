"""Sweep specs: which `fastnet train` options a sweep fixes and which it varies.

A spec is a TOML file (or a dict of the same shape)::

    [sweep]
    method = "grid"          # or "random", with n_trials = N and seed = S (default 0)
    out = "runs/sweep1"      # sweep folder (default runs/<spec file name>)
    [base]                   # `fastnet train` options fixed for every trial
    epochs = 2
    limit = 5000
    [grid]                   # lists of values: every combination is one trial
    lr = [0.05, 0.1]
    layers = ["784,128,10", "784,256,10"]

With ``method = "random"`` the table is ``[random]``: a list is a uniform choice, a table
``{low = 1e-3, high = 0.3, log = true}`` a uniform (or log-uniform) draw rounded to 4
significant digits, whole numbers when both bounds are integers. Keys are the long options
of ``fastnet train`` (``batch_size`` or ``batch-size``); ``out``, ``force``, ``quiet``,
``no_progress`` and ``threads`` belong to the sweep. Every value is checked by the train
option's own parser (``fastnet.runs.TRAIN_OPTIONS``), so a bad value fails before any
trial runs, naming the key; options that do not fit together (``--layers`` not ending in
10, ``--beta1`` with sgd) fail in their trial, which is recorded as failed.

A trial's name is made of its swept values and a hash of all its options, so the same
spec gives the same trial folders.
"""
import difflib
import hashlib
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import checks
from .runs import TRAIN_OPTIONS

SECTIONS = ("sweep", "base", "grid", "random")
SWEEP_KEYS = ("method", "out", "n_trials", "seed")
SET_BY_SWEEP = ("out", "force", "quiet", "no_progress", "threads")


@dataclass
class Trial:
    """One training run of a sweep: ``params`` are the swept values, ``argv`` the full
    ``fastnet train`` options (without the ones the sweep adds)."""
    name: str
    params: dict
    argv: list = field(default_factory=list)


# ---------------------------------------------------------------- the spec
def load_spec(path):
    """The dict in a TOML spec file (``tomllib``, or ``tomli`` before Python 3.11)."""
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError:
            raise ImportError('reading a TOML spec needs tomli before Python 3.11: '
                              'pip install "fastnet[sweep]"') from None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sweep spec not found: {path}")
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML: {e}") from None


def parse_spec(spec):
    """Check a spec dict; returns {method, out, n_trials, seed, base, space} with train
    option names (``batch_size``) as keys of ``base`` and ``space``."""
    if not isinstance(spec, dict):
        raise TypeError(f"spec must be a dict (or a TOML file), got {type(spec).__name__}")
    for key in spec:
        checks.choice("spec section", key, SECTIONS)
    head = _table(spec, "sweep")
    for key in head:
        checks.choice("key of [sweep]", key, SWEEP_KEYS)
    tables = [name for name in ("grid", "random") if name in spec]
    method = head.get("method", tables[0] if len(tables) == 1 else None)
    if method is None:
        raise ValueError(f"[sweep] method is missing and the spec has {len(tables)} of the "
                         "tables [grid] and [random]; set method = 'grid' or 'random'")
    method = checks.choice("[sweep] method", method, ("grid", "random"))
    if tables != [method]:
        raise ValueError(f"[sweep] method = {method!r} needs a [{method}] table and no other; "
                         f"the spec has {['[' + t + ']' for t in tables] or 'none'}")
    if method == "grid" and ("n_trials" in head or "seed" in head):
        raise ValueError("[sweep] n_trials and seed apply to method = 'random' only")
    out = head.get("out")
    if out is not None and not isinstance(out, str):
        raise TypeError(f"[sweep] out must be a path string, got {out!r}")
    base = {_dest("[base]", k): v for k, v in _table(spec, "base").items()}
    for key, value in base.items():
        _option_text(f"[base] {key}", key, value)
    space = {}
    for key, values in _table(spec, method).items():
        dest = _dest(f"[{method}]", key)
        if dest in base:
            raise ValueError(f"{dest!r} is both fixed in [base] and swept in [{method}]")
        space[dest] = _values(f"[{method}] {key}", dest, values, method)
    if not space:
        raise ValueError(f"[{method}] is empty; give at least one option to sweep")
    n_trials = seed = None
    if method == "random":
        if "n_trials" not in head:
            raise ValueError("[sweep] n_trials (how many random trials) is missing")
        n_trials = checks.integer("[sweep] n_trials", head["n_trials"], 1)
        seed = checks.seed("[sweep] seed", head.get("seed", 0))
    return dict(method=method, out=out, n_trials=n_trials, seed=seed, base=base, space=space)


def _table(spec, name):
    """The dict of section ``name`` (empty if absent)."""
    table = spec.get(name, {})
    if not isinstance(table, dict):
        raise TypeError(f"[{name}] must be a table, got {table!r}")
    return table


def _dest(where, key):
    """The train option (``fastnet.runs.TRAIN_OPTIONS``) that spec key ``key`` names."""
    dest = key.replace("-", "_")
    if dest in SET_BY_SWEEP:
        raise ValueError(f"{where}: {key!r} is set by the sweep for every trial (out: "
                         "[sweep] out or --out; threads: one per trial)")
    options = list(TRAIN_OPTIONS)
    if dest not in options:
        close = difflib.get_close_matches(dest, options, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{where}: unknown train option {key!r}; expected one of "
                         f"{tuple(options)}{hint}")
    return dest


def _option_text(where, dest, value):
    """``value`` as the command-line text of option ``dest``, checked by its parser."""
    if isinstance(value, (list, tuple)) and value and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        text = ",".join(map(str, value))
    elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
        text = repr(value) if isinstance(value, float) else str(value)
    else:
        raise TypeError(f"{where} must be a number or a string (a list of integers for "
                        f"layers), got {value!r} ({type(value).__name__})")
    try:
        TRAIN_OPTIONS[dest].parse(text)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
    return text


def _values(where, dest, values, method):
    """Check one swept option: a non-empty list, or for random {low, high, log}."""
    if method == "random" and isinstance(values, dict):
        for key in values:
            checks.choice(f"key of {where}", key, ("low", "high", "log"))
        if "low" not in values or "high" not in values:
            raise ValueError(f"{where} needs low and high, got {values!r}")
        low = checks.real(f"{where} low", values["low"])
        high = checks.real(f"{where} high", values["high"], low, low_open=True)
        log = checks.boolean(f"{where} log", values.get("log", False))
        if log and low <= 0:
            raise ValueError(f"{where} has log = true, so low must be > 0, got {low}")
        whole = all(isinstance(values[k], int) for k in ("low", "high"))
        for bound in (low, high):
            _option_text(where, dest, int(bound) if whole else bound)
        return dict(low=low, high=high, log=log, whole=whole)
    if not isinstance(values, list):
        extra = " or a table {low, high, log}" if method == "random" else ""
        raise TypeError(f"{where} must be a list of values{extra} (fixed values go in "
                        f"[base]), got {values!r}")
    if not values:
        raise ValueError(f"{where} is an empty list; give at least one value")
    for i, value in enumerate(values):
        _option_text(f"{where}[{i}]", dest, value)
    return list(values)


# ---------------------------------------------------------------- the trials
def expand(spec):
    """The trials of a parsed spec (``parse_spec``): every grid combination, or
    ``n_trials`` random draws (seeded; repeated draws run once)."""
    keys = list(spec["space"])
    if spec["method"] == "grid":
        combos = itertools.product(*(spec["space"][k] for k in keys))
    else:
        rng = np.random.default_rng(spec["seed"])
        combos = ([_draw(rng, spec["space"][k]) for k in keys]
                  for _ in range(spec["n_trials"]))
    trials = {}
    for combo in combos:
        trial = make_trial(spec["base"], dict(zip(keys, combo)))
        trials.setdefault(trial.name, trial)
    return list(trials.values())


def _draw(rng, space):
    """One random value of a checked [random] entry."""
    if isinstance(space, list):
        return space[int(rng.integers(len(space)))]
    low, high = space["low"], space["high"]
    if space["whole"]:
        if space["log"]:
            return int(round(math.exp(rng.uniform(math.log(low), math.log(high)))))
        return int(rng.integers(int(low), int(high) + 1))
    x = math.exp(rng.uniform(math.log(low), math.log(high))) if space["log"] else \
        rng.uniform(low, high)
    return float(f"{x:.4g}")


def make_trial(base, params):
    """The Trial of fixed options ``base`` and swept values ``params`` (train option
    names as keys): argv ``--option=value`` and a name from the values plus a hash."""
    argv = [f"{TRAIN_OPTIONS[k].flag}={_option_text(k, k, v)}"
            for k, v in {**base, **params}.items()]
    digest = hashlib.sha256("\0".join(sorted(argv)).encode()).hexdigest()[:8]
    label = "-".join(f"{k}{_label(v)}" for k, v in params.items())[:80]
    return Trial(f"{label}-{digest}", dict(params), argv)


def _label(value):
    """``value`` as a short piece of a folder name."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "_".join(map(str, value))
    return re.sub(r"[^A-Za-z0-9.+]+", "_", str(value)).strip("_")
