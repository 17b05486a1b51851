import gzip

import numpy as np
import pytest

from fastnet.datasets import MNIST_DIR, load_mnist, parse_idx, read_idx


def idx_bytes(arr, type_code=0x08):
    header = bytes([0, 0, type_code, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def test_load_mnist_needs_no_arguments():
    (X, y), (Xt, yt) = load_mnist()
    assert X.shape == (60000, 784) and X.dtype == np.uint8
    assert Xt.shape == (10000, 784) and yt.shape == (10000,)
    assert y.min() == 0 and y.max() == 9
    assert np.bincount(y).min() > 5000          # every digit is present
    assert y[:5].tolist() == [5, 0, 4, 1, 9]    # the well-known first labels
    assert 0.12 < X.mean() / 255 < 0.14          # MNIST's mean pixel ≈ 0.1307


def test_other_idx_files_load_by_path(tmp_path):
    a = np.arange(24, dtype=np.int32).reshape(2, 3, 4)
    p = tmp_path / "a.idx"
    p.write_bytes(idx_bytes(a, 0x0C))
    np.testing.assert_array_equal(read_idx(p), a)
    g = tmp_path / "b.idx.gz"
    g.write_bytes(gzip.compress(idx_bytes(np.arange(5, dtype=np.uint8))))
    np.testing.assert_array_equal(read_idx(g), np.arange(5))


@pytest.mark.parametrize("raw,words", [
    (b"\x00\x00", "too short"),
    (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "bad IDX magic"),
    (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "bad IDX magic"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x02\x00\x00\x00\x01", "truncated IDX header"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x03\x05", "truncated"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x01\x05\x06", "trailing bytes"),
])
def test_malformed_idx_is_a_clear_error(raw, words):
    with pytest.raises(ValueError, match=words) as e:
        parse_idx(raw, "f.idx")
    assert "f.idx" in str(e.value)


def test_truncated_gzip_names_the_file(tmp_path):
    p = tmp_path / "t.gz"
    p.write_bytes((MNIST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()[:1000])
    with pytest.raises(ValueError, match="t.gz"):
        read_idx(p)


def test_checksum_mismatch_is_detected(tmp_path):
    for name in ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz"]:
        (tmp_path / name).write_bytes((MNIST_DIR / name).read_bytes())
    bad = bytearray((MNIST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
    bad[100] ^= 0xFF
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="t10k-labels.*SHA-256"):
        load_mnist(tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")
