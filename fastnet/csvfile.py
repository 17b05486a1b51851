"""Read a numeric CSV file with a header fast: one Numba pass over the file's bytes, with
a fast path for plain integers (pixel files such as Kaggle's digit-recognizer train.csv,
42 000 rows × 785 columns, load in a few seconds). Fields are separated by
commas, rows by ``\\n`` (``\\r\\n`` works); a field may be wrapped in double quotes (then
it may hold commas) and padded with spaces. Every column but the target must hold numbers;
the target may hold numbers or strings (class names).
"""
import csv
from pathlib import Path

import numpy as np

from . import config

# status codes of parse_rows
OK, RAGGED, NOT_A_NUMBER, TOO_MANY_ROWS = 0, 1, 2, 3


@config.inline
def _number(raw, a, b):
    """The decimal number in raw[a:b] (spaces and one pair of quotes around it allowed):
    [sign] digits [. digits] [(e|E) [sign] digits]; NaN if the field is not such a number."""
    while a < b and (raw[a] == 32 or raw[a] == 13 or raw[a] == 9):
        a += 1
    while b > a and (raw[b - 1] == 32 or raw[b - 1] == 13 or raw[b - 1] == 9):
        b -= 1
    if b - a >= 2 and raw[a] == 34 and raw[b - 1] == 34:
        a += 1
        b -= 1
    sign = 1.0
    if a < b and (raw[a] == 45 or raw[a] == 43):   # - +
        if raw[a] == 45:
            sign = -1.0
        a += 1
    mantissa = 0.0
    exponent = 0
    digits = 0
    while a < b and 48 <= raw[a] <= 57:
        mantissa = mantissa * 10.0 + (raw[a] - 48)
        digits += 1
        a += 1
    if a < b and raw[a] == 46:                      # .
        a += 1
        while a < b and 48 <= raw[a] <= 57:
            mantissa = mantissa * 10.0 + (raw[a] - 48)
            exponent -= 1
            digits += 1
            a += 1
    if digits == 0:
        return np.nan
    if a < b and (raw[a] == 101 or raw[a] == 69):   # e E
        a += 1
        esign = 1
        if a < b and (raw[a] == 45 or raw[a] == 43):
            if raw[a] == 45:
                esign = -1
            a += 1
        e = 0
        edigits = 0
        while a < b and 48 <= raw[a] <= 57:
            e = min(e * 10 + (raw[a] - 48), 100000)
            edigits += 1
            a += 1
        if edigits == 0:
            return np.nan
        exponent += esign * e
    if a != b:
        return np.nan
    if exponent == 0:
        return sign * mantissa
    if exponent < 0:
        return sign * mantissa / 10.0 ** min(-exponent, 400)
    return sign * mantissa * 10.0 ** min(exponent, 400)


@config.kernel
def parse_rows(values, spans, info, raw, target):
    """Parse CSV data rows into numbers.

    raw    : (n_bytes,) uint8, the file after its header line
    values : (max_rows, n_cols) float64 out, values[r, c] = number in field c of row r
    spans  : (max_rows, 2) int64 out, byte range [start, end) in raw of the target field
    info   : (5,) int64 out, (status, row, column, field start, field end) of the first
             problem; status OK, RAGGED, NOT_A_NUMBER (outside the target) or TOO_MANY_ROWS
    Returns the number of rows parsed. Blank lines are skipped; the target column may
    hold non-numbers (NaN in values, its text in spans).
    """
    n = raw.shape[0]
    max_rows, n_cols = values.shape
    row = 0
    i = 0
    info[0] = OK
    while i < n:
        if raw[i] == 10 or (raw[i] == 13 and i + 1 < n and raw[i + 1] == 10):  # blank line
            i += 1 if raw[i] == 10 else 2
            continue
        if row == max_rows:
            info[0] = TOO_MANY_ROWS
            info[1] = row
            return row
        col = 0
        while True:
            a = i
            whole = 0                                # fast path: a plain unsigned integer
            while i < n and 48 <= raw[i] <= 57 and i - a < 15:
                whole = whole * 10 + (raw[i] - 48)
                i += 1
            plain = i > a and (i == n or raw[i] == 44 or raw[i] == 10)
            quoted = False
            while not plain and i < n and raw[i] != 10 and (quoted or raw[i] != 44):
                if raw[i] == 34:
                    quoted = not quoted
                i += 1
            if col < n_cols:
                v = float(whole) if plain else _number(raw, a, i)
                if col == target:
                    spans[row, 0] = a
                    spans[row, 1] = i
                elif v != v:
                    info[0] = NOT_A_NUMBER
                    info[1] = row
                    info[2] = col
                    info[3] = a
                    info[4] = i
                    return row
                values[row, col] = v
            col += 1
            if i >= n or raw[i] == 10:
                i += 1
                break
            i += 1                                   # the comma
        if col != n_cols:
            info[0] = RAGGED
            info[1] = row
            info[2] = col
            return row
        row += 1
    return row


def read_csv(path, target="label"):
    """Read a CSV file with a header row.

    Returns (features, labels, names): features (n, n_cols - 1) float64 in file order
    without the target column, labels a float64 array (numbers) or a list of str
    (when any label is not a number), names the header's feature column names.
    ``target=None``: every column is a feature and labels is None.
    Raises ValueError naming the file, row (1 = the first data row) and column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CSV file not found: {path}")
    raw = path.read_bytes()
    end = raw.find(b"\n")
    end = len(raw) if end < 0 else end
    try:
        header = next(csv.reader([raw[:end].decode("utf-8-sig").rstrip("\r")]), [])
    except (UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: cannot read the header row ({e})") from None
    names = [h.strip() for h in header]
    if target is None:   # features only (rows to predict)
        features, _, _ = _parse(path, raw, end, names, -1, target)
        return features, None, names
    if target not in names:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise ValueError(f"{path}: no target column {target!r} in the header "
                         f"({len(names)} columns: {shown}); name it with --target "
                         "(target= in Python)")
    if names.count(target) > 1:
        raise ValueError(f"{path}: the header has {names.count(target)} columns named {target!r}")
    return _parse(path, raw, end, names, names.index(target), target)


def _parse(path, raw, end, names, t, target):
    body = np.frombuffer(raw, np.uint8, offset=min(end + 1, len(raw)))
    max_rows = raw.count(b"\n", end) + 1
    values = np.empty((max_rows, len(names)), np.float64)
    spans = np.empty((max_rows, 2), np.int64)
    info = np.zeros(5, np.int64)
    rows = parse_rows(values, spans, info, body, t)
    status, row, col, a, b = (int(v) for v in info)
    where = f"{path}: data row {row + 1} (line {row + 2})"   # rows count from 1 after the header
    if status == RAGGED:
        raise ValueError(f"{where} has {col} fields; the header has {len(names)} (ragged rows)")
    if status == NOT_A_NUMBER:
        text = bytes(body[a:b]).decode("utf-8", "replace").strip()
        what = "a missing value" if text.strip('"').lower() in ("", "nan", "na", "null", "none") \
            else f"{text[:40]!r}, not a number"
        but = "" if target is None else f" but the target {target!r}"
        raise ValueError(f"{where}, column {names[col]!r}: {what}; every column{but} must "
                         "hold numbers (no NaN)")
    if rows == 0:
        raise ValueError(f"{path}: no data rows after the header")
    values = values[:rows]
    labels = values[:, t].astype(np.float64) if t >= 0 else None
    if labels is not None and np.isnan(labels).any():   # class names: decode the target fields
        labels = [bytes(body[s:e]).decode("utf-8", "replace").strip().strip('"').strip()
                  for s, e in spans[:rows]]
        empty = [r for r, s in enumerate(labels) if s.lower() in ("", "nan", "na", "null")]
        if empty:
            raise ValueError(f"{path}: data row {empty[0] + 1} (line {empty[0] + 2}) has a "
                             f"missing {target!r} value")
    features = np.delete(values, t, axis=1) if t >= 0 else values
    bad = ~(np.abs(features) <= np.finfo(np.float32).max)   # inf, or beyond float32
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"{path}: data row {r + 1} (line {r + 2}), column "
                         f"{names[c + (0 <= t <= c)]!r}: {features[r, c]} does not fit float32")
    return features, labels, names[:t] + names[t + 1:] if t >= 0 else names
