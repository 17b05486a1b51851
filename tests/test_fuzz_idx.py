"""Fuzz the IDX reader: random, truncated and bit-flipped bytes (raw and gzip-compressed)
may only raise ValueError (or FileNotFoundError for a missing path), never another
exception, a crash or a huge allocation."""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastnet.datasets import IDX_DTYPES, MNIST_DIR, parse_idx, read_idx

FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
# a real file: the first 20 test labels (8-byte header + payload), and a 3-D image header
LABELS = gzip.decompress((MNIST_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes())
REAL = LABELS[:4] + struct.pack(">I", 20) + LABELS[8:28]
IMAGES = bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 3, 4) + bytes(range(24))


def parse_or_value_error(raw, name="fuzz.idx"):
    """parse_idx must return a consistent array or raise ValueError naming the input."""
    try:
        a = parse_idx(raw, name)
    except ValueError as e:
        assert name in str(e), str(e)
        return None
    header = 4 + 4 * a.ndim
    assert len(raw) == header + a.nbytes                   # every byte accounted for
    assert a.shape == struct.unpack(f">{a.ndim}I", bytes(raw[4:header]))
    return a


def header(type_code, dims):
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


@FUZZ
@given(st.binary(max_size=600))
@example(b"")
@example(b"\x00\x00\x08")
@example(header(0x08, (65536,) * 4))                        # product 2^64 wraps int64 to 0
@example(header(0x0E, (0, 2 ** 32 - 1, 2 ** 32 - 1, 2 ** 32 - 1)))   # empty but unrepresentable
@example(header(0x08, (1,) * 70) + b"x")                    # more dims than NumPy allows
@example(header(0x08, (0,) * 32))
def test_random_bytes(raw):
    parse_or_value_error(raw)
    parse_or_value_error(bytearray(raw))
    parse_or_value_error(memoryview(raw))


@FUZZ
@given(st.sampled_from(sorted(IDX_DTYPES)),
       st.lists(st.one_of(st.integers(0, 5), st.integers(0, 2 ** 32 - 1)), min_size=1,
                max_size=40),
       st.binary(max_size=200))
def test_random_headers_with_short_payloads(type_code, dims, payload):
    parse_or_value_error(header(type_code, dims) + payload)


@FUZZ
@given(st.sampled_from([REAL, IMAGES]), st.data())
def test_truncations_and_bit_flips_of_real_files(good, data):
    np.testing.assert_array_equal(parse_or_value_error(good).ravel()[:4],
                                  np.frombuffer(good, np.uint8)[-parse_idx(good).size:][:4])
    raw = bytearray(good)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        pos = data.draw(st.integers(0, min(len(raw), 24) - 1), label="pos")  # mostly the header
        raw[pos] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    cut = data.draw(st.integers(0, len(raw)), label="cut")
    parse_or_value_error(bytes(raw))
    parse_or_value_error(bytes(raw[:cut]))
    assert parse_or_value_error(good[:cut]) is None or cut == len(good)


@FUZZ
@given(st.binary(max_size=300), st.integers(0, 400), st.booleans())
def test_files_raw_and_gzip(tmp_path, payload, cut, compress):
    """read_idx on disk: random bytes, or a real file cut short, plain or gzip (also cut)."""
    path = tmp_path / "f.idx.gz"
    for raw in (payload, REAL[:cut], IMAGES + payload[:1]):
        data = gzip.compress(raw) if compress else raw
        for blob in (data, data[:cut]):
            path.write_bytes(blob)
            try:
                a = read_idx(path)
            except ValueError as e:
                assert "f.idx.gz" in str(e)
            else:
                assert isinstance(a, np.ndarray)


def test_gzip_bomb_is_not_expanded(tmp_path):
    """A header declaring 10 bytes followed by 50 MB of compressed zeros: the reader stops
    after the declared size plus one byte and reports trailing data."""
    path = tmp_path / "bomb.idx.gz"
    path.write_bytes(gzip.compress(header(0x08, (10,)) + bytes(50_000_000), 9))
    with pytest.raises(ValueError, match="bomb.idx.gz.*trailing bytes"):
        read_idx(path)


def test_gzip_crc_is_still_checked(tmp_path):
    blob = bytearray(gzip.compress(REAL))
    blob[-8] ^= 0xFF                                          # the CRC32 in the gzip trailer
    path = tmp_path / "crc.idx.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="crc.idx.gz.*gzip"):
        read_idx(path)


def test_missing_and_directory_paths(tmp_path):
    for p in (tmp_path / "nope.idx", tmp_path):
        with pytest.raises(FileNotFoundError):
            read_idx(p)
    with pytest.raises(TypeError, match="needs bytes"):
        parse_idx("0000", "s")


@pytest.mark.parametrize("dims", [(10 ** 6, 10 ** 6), (2 ** 32 - 1,) * 3, (100_000, 10_000)])
def test_absurd_sizes_in_a_gzip_header_are_refused_before_allocating(tmp_path, dims):
    """A small gzip file whose header claims 10¹² or more bytes: ValueError, not
    MemoryError or OverflowError from trying to read that much."""
    path = tmp_path / "huge.idx.gz"
    path.write_bytes(gzip.compress(header(0x08, dims) + bytes(1000)))
    with pytest.raises(ValueError, match="huge.idx.gz: IDX header claims dims.*more than a gzip"):
        read_idx(path)
    path = tmp_path / "huge.idx"
    path.write_bytes(header(0x0E, dims) + bytes(1000))
    with pytest.raises(ValueError, match="huge.idx: IDX payload truncated"):
        read_idx(path)
