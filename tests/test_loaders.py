"""fastnet.datasets.load: CSV, .npz, .npy pairs and IDX folders, checked by their format."""
import gzip
import time

import numpy as np
import pytest

from fastnet.datasets import MNIST_DIR, MNIST_FILES, load, read_idx


def write_csv(path, header, rows):
    path.write_text(header + "\n" + "".join(r + "\n" for r in rows))
    return path


def idx_bytes(arr):
    return bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big")
                                                  for d in arr.shape) + arr.tobytes()


def test_csv_string_labels_become_sorted_class_ids(tmp_path):
    p = write_csv(tmp_path / "d.csv", "height, label ,weight",
                  ["1.5,dog,2", "-3e2,cat,4.25", '0.5,"bird",0', "7,cat,-1"])
    data = load(p)
    X, y = data
    assert X.dtype == np.float32 and X.tolist() == [[1.5, 2], [-300, 4.25], [0.5, 0], [7, -1]]
    assert data.classes == ["bird", "cat", "dog"] and y.tolist() == [2, 1, 0, 1]
    assert data.features == ["height", "weight"]


def test_csv_target_by_name_and_numeric_labels(tmp_path):
    p = write_csv(tmp_path / "r.csv", "a,price", ["1,2.5", "2,3.25\r"])
    X, y = load(p, target="price")
    assert y.dtype == np.float32 and y.tolist() == [2.5, 3.25] and X.tolist() == [[1], [2]]
    X, y = load(write_csv(tmp_path / "c.csv", "label,a", ["3,0.5", "0,1"]))
    assert y.dtype == np.int64 and y.tolist() == [3, 0]


def test_csv_without_target_reads_rows_to_predict(tmp_path):
    data = load(write_csv(tmp_path / "test.csv", "a,b", ["1,2", "3,4.5"]), target=None)
    assert data.y is None and data.X.tolist() == [[1, 2], [3, 4.5]]
    with pytest.raises(ValueError, match="test.csv: data row 1.*column 'b'.*every column must"):
        load(write_csv(tmp_path / "test.csv", "a,b", ["1,?"]), target=None)


def test_kaggle_digit_csv_reads_as_uint8_pixels_fast(tmp_path):
    """42 000 rows × 785 integer columns, like Kaggle's digit-recognizer train.csv."""
    rng = np.random.default_rng(0)
    pixels = np.where(rng.random((42000, 784)) < 0.8, 0, rng.integers(1, 256, (42000, 784)))
    labels = rng.integers(0, 10, 42000)
    p = tmp_path / "train.csv"
    words = np.array([f"{i}," for i in range(256)], dtype=object)   # faster than savetxt
    rows = (f"{label},{''.join(r)[:-1]}" for label, r in zip(labels, words[pixels]))
    write_csv(p, "label," + ",".join(f"pixel{i}" for i in range(784)), rows)
    load(write_csv(tmp_path / "warm.csv", "label,a", ["1,2"]))    # compile the parser first
    start = time.process_time()
    X, y = load(p)
    seconds = time.process_time() - start
    assert X.dtype == np.uint8 and X.shape == (42000, 784)
    np.testing.assert_array_equal(X, pixels)
    np.testing.assert_array_equal(y, labels)
    assert seconds < 10, f"{seconds:.1f} s of CPU for a 42000×785 CSV"


@pytest.mark.parametrize("rows,pixels", [
    (["1,0,1,0"], False),          # 0/1 flags stay floats (×1/255 would erase them)
    (["1,0,16,3"], False),         # small counts (sklearn's 0..16 digits) stay floats
    (["1,0,255,3"], False),        # too few features to be an image
])
def test_pixel_rule_needs_bytes_and_many_features(tmp_path, rows, pixels):
    X, _ = load(write_csv(tmp_path / "f.csv", "label,a,b,c", rows))
    assert (X.dtype == np.uint8) == pixels
    wide = "label," + ",".join(f"p{i}" for i in range(64))
    X, _ = load(write_csv(tmp_path / "w.csv", wide, ["1," + ",".join(["200"] * 64)]))
    assert X.dtype == np.uint8
    X, _ = load(tmp_path / "w.csv", pixels=False)
    assert X.dtype == np.float32
    X, _ = load(tmp_path / "f.csv", pixels=True)
    assert X.dtype == np.uint8
    with pytest.raises(ValueError, match="not all integers in 0..255"):
        load(write_csv(tmp_path / "n.csv", "label,a", ["1,-1"]), pixels=True)


@pytest.mark.parametrize("text,words", [
    ("a,b,label\n1,2,3\n4,5\n", r"data row 2 \(line 3\) has 2 fields; the header has 3"),
    ("a,b,label\n1,2,3,4\n", "has 4 fields"),
    ("a,b,y\n1,2,3\n", "no target column 'label'.*a, b, y"),
    ("a,b,label\n1,x,3\n", "column 'b': 'x', not a number"),
    ("a,b,label\n1,,3\n", "column 'b': a missing value"),
    ("a,b,label\n1,nan,3\n", "column 'b': a missing value"),
    ("a,b,label\n1,2,\n", "missing 'label' value"),
    ("a,b,label\n", "no data rows"),
    ("a,label,label\n1,2,3\n", "2 columns named 'label'"),
    ("a,b,label\n1,1e99,3\n", "column 'b'.*does not fit float32"),
])
def test_bad_csv_is_a_clear_error(tmp_path, text, words):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=words) as e:
        load(p)
    assert "bad.csv" in str(e.value)


def test_npz_train_and_test_parts(tmp_path):
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=np.array([3, 4], np.uint8),
             x_test=x[:1], y_test=np.array([9], np.uint8))
    X, y = load(tmp_path / "mnist.npz")
    assert X.shape == (2, 784) and X.dtype == np.uint8 and y.tolist() == [3, 4]
    X, y = load(tmp_path / "mnist.npz", split="test")
    assert X.shape == (1, 784) and y.tolist() == [9]
    np.savez(tmp_path / "xy.npz", X=np.ones((3, 2)), y=np.array(["b", "a", "b"]))
    data = load(tmp_path / "xy.npz")
    assert data.classes == ["a", "b"] and data.y.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="xy.npz: expected arrays x_test and y_test"):
        load(tmp_path / "xy.npz", split="test")


def test_npy_pairs_are_memory_mapped(tmp_path):
    X = np.random.default_rng(0).random((50, 3)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.arange(50) % 3)
    np.save(tmp_path / "X_test.npy", X[:5])
    np.save(tmp_path / "y_test.npy", np.zeros(5, np.int64))
    for path in (tmp_path, tmp_path / "X.npy"):
        got, y = load(path)
        assert isinstance(got, np.memmap) and not got.flags.writeable
        np.testing.assert_array_equal(got, X)
        assert y.tolist() == (np.arange(50) % 3).tolist()
    got, y = load(tmp_path, split="test")
    assert got.shape == (5, 3) and isinstance(got, np.memmap)
    assert load(tmp_path / "X_test.npy").y.shape == (5,)


def test_npy_problems_name_the_file(tmp_path):
    np.save(tmp_path / "X.npy", np.ones((4, 2)))
    with pytest.raises(FileNotFoundError, match="y.npy are not beside it"):
        load(tmp_path / "X.npy")
    np.save(tmp_path / "y.npy", np.ones(3))
    with pytest.raises(ValueError, match="4 feature rows but labels of shape"):
        load(tmp_path)
    bad = np.ones((4, 2))
    bad[2, 1] = np.nan
    np.save(tmp_path / "X.npy", bad)
    np.save(tmp_path / "y.npy", np.ones(4))
    with pytest.raises(ValueError, match="X.npy.*features row 2 holds NaN"):
        load(tmp_path)
    raw = (tmp_path / "X.npy").read_bytes()
    (tmp_path / "X.npy").write_bytes(raw[:-8])        # header claims more than the file
    with pytest.raises(ValueError, match="X.npy: cannot read as a .npy array"):
        load(tmp_path)
    np.save(tmp_path / "feats.npy", bad)
    with pytest.raises(ValueError, match="cannot tell where the labels are"):
        load(tmp_path / "feats.npy")


def test_idx_folder_not_mnist_drops_in(tmp_path):
    """Fashion-MNIST-style files (here MNIST inverted) load by format, without checksums."""
    for key, (name, _) in MNIST_FILES.items():
        a = read_idx(MNIST_DIR / name)
        if "images" in key:
            a = 255 - a[:100]
        else:
            a = a[:100]
        (tmp_path / name).write_bytes(gzip.compress(idx_bytes(a)))
    X, y = load(tmp_path)
    assert X.shape == (100, 784) and X.dtype == np.uint8 and y.max() <= 9
    Xt, yt = load(tmp_path, split="test")
    assert Xt.shape == (100, 784) and (Xt[0] == 255).mean() > 0.5   # inverted: paper is 255


def test_emnist_naming_and_missing_files(tmp_path):
    (tmp_path / "emnist-digits-test-images-idx3-ubyte").write_bytes(
        idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    (tmp_path / "emnist-digits-test-labels-idx1-ubyte").write_bytes(
        idx_bytes(np.array([1, 2], np.uint8)))
    assert load(tmp_path, split="test").y.tolist() == [1, 2]
    with pytest.raises(ValueError, match="no train data: expected X.npy"):
        load(tmp_path)


def test_shipped_mnist_folder_is_still_checksum_verified():
    X, y = load(MNIST_DIR, split="test")
    assert X.shape == (10000, 784) and y[:3].tolist() == [7, 2, 1]


def test_unknown_format_and_bad_split(tmp_path):
    (tmp_path / "d.txt").write_text("1,2")
    with pytest.raises(ValueError, match="d.txt: unknown data format '.txt'"):
        load(tmp_path / "d.txt")
    with pytest.raises(ValueError, match="split must be"):
        load(tmp_path / "d.txt", split="val")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load(tmp_path / "nope.csv")


def test_float64_and_integer_npy_stay_memory_mapped_other_dtypes_are_converted(tmp_path):
    np.save(tmp_path / "y.npy", np.arange(6) % 2)
    for dtype, mapped in [(np.float64, True), (np.int16, True), (np.float32, True),
                          (np.float16, False)]:
        np.save(tmp_path / "X.npy", np.arange(12, dtype=dtype).reshape(6, 2))
        X, _ = load(tmp_path / "X.npy")
        assert isinstance(X, np.memmap) == mapped, dtype
        assert X.dtype == (dtype if mapped else np.float32)
        assert X.tolist() == np.arange(12).reshape(6, 2).tolist()
    np.save(tmp_path / "X.npy", np.asfortranarray(np.ones((6, 2))))   # rows not contiguous
    X, _ = load(tmp_path / "X.npy")
    assert not isinstance(X, np.memmap) and X.dtype == np.float32


def test_float64_beyond_float32_and_an_npy_test_split_are_clear_errors(tmp_path):
    X = np.ones((4, 2))
    X[1, 0] = 1e300
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.ones(4))
    with pytest.raises(ValueError, match=r"X.npy.*features row 1 holds NaN or infinity "
                                         r"\(1e\+300, beyond float32's range\)"):
        load(tmp_path / "X.npy")
    with pytest.raises(ValueError, match="an .npy file holds one split"):
        load(tmp_path / "X.npy", split="test")


def test_npy_rows_to_predict_stay_mapped_in_any_shape_of_n_inputs_values(tmp_path):
    from fastnet.datasets import npy_rows
    np.save(tmp_path / "a.npy", np.arange(24.0).reshape(2, 3, 4))
    rows = npy_rows(tmp_path / "a.npy", 12)
    assert isinstance(rows, np.memmap) and rows.dtype == np.float64
    assert rows.tolist() == np.arange(24.0).reshape(2, 12).tolist()
    with pytest.raises(ValueError, match=r"a.npy: expected shape \(5,\) or \(n, 5\)"):
        npy_rows(tmp_path / "a.npy", 5)
    np.save(tmp_path / "s.npy", np.array(["x"] * 12))
    with pytest.raises(ValueError, match="s.npy: expected a numeric array"):
        npy_rows(tmp_path / "s.npy", 12)
