"""examples/drawn_digits.py: the photo-like drawn digits of issue 20, read by a small model."""
import os
import sys
from collections import Counter

import numpy as np
import pytest

import fastnet as fn

pytest.importorskip("PIL.Image")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "examples"))
import drawn_digits  # noqa: E402


def test_the_mix_has_issue_20s_proportions():
    assert Counter(drawn_digits.mix(20)) == {"thick": 4, "small": 3, "grey": 3, "shadow": 3,
                                             "thin": 7}
    assert Counter(drawn_digits.mix(200)) == {"thick": 34, "small": 33, "grey": 33,
                                              "shadow": 33, "thin": 67}


def test_write_set_draws_every_digit_in_files_named_by_kind_and_digit(tmp_path):
    drawn = drawn_digits.write_set(tmp_path, 20, seed=3)
    assert sorted(d for _, d, _ in drawn[:10]) == list(range(10))
    for path, digit, kind in drawn:
        assert os.path.basename(path).split(".")[0].endswith(f"_{kind}_{digit}")
        assert os.path.getsize(path) > 0


def test_a_small_model_reads_at_least_17_of_20_drawn_digits(tmp_path, one_thread):
    """784-128-10 on 10 000 MNIST images, 3 epochs: 19/20 measured on seed 0 (the image
    preparation before issue 20's fixes read 12/20 of this set with the default model)."""
    (X, y), _ = fn.datasets.load_mnist()
    net = fn.Network([fn.Dense(784, 128, activation="relu"), fn.Dense(128, 10)], seed=0)
    net.fit(X[:10000], y[:10000], epochs=3, batch_size=64,
            optimizer=fn.SGD(0.1, momentum=0.9), verbose=False)
    drawn = drawn_digits.write_set(tmp_path, 20, seed=0)
    counts, predicted = drawn_digits.measure(net, drawn)
    right = sum(r for r, _ in counts.values())
    assert right == int(np.sum(predicted == [d for _, d, _ in drawn]))
    assert right >= 17, counts
    hard = sum(counts[k][0] for k in ("grey", "shadow", "thin"))
    assert hard >= 11, counts                       # of 13: photos, shadows, thin pens
