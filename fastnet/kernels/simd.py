"""A 64-byte vector value for register-blocked loops: 16 float32 or 8 float64 lanes, one
AVX-512 register (two AVX2 ones, four NEON ones: LLVM splits it where the CPU is narrower).

LLVM vectorises a loop's innermost index, and keeps nothing in registers across the loop
around it: a sum over k of rows of b into rows of out (``dense._ab_rows``) loads and stores
its rows of out once per few k. With these values a loop over k keeps a whole tile of out
in registers (``gemm.tile``), as the micro-kernels of BLIS and llm.c do:

    acc = vzero(b)                   a vector of 0s, of b's dtype
    y = vload(b, i)                  b[i:i + LANES] (b a C-contiguous 1-D array)
    acc = vfma(x, y, acc)            x · y + acc, lane by lane, one fused multiply-add
    vstore(out, i, acc)              out[i:i + LANES] = acc
    x = load(a, i)                   a[i], a number (no wrap-around of negative i)
    prefetch(a, i)                   ask for a[i]'s cache line ahead of its use
    transpose8(d, i, ldd, a, j, lda) d[i + k ldd + r] = a[j + r lda + k], r < 8, k < LANES
    flat_rows(a, i0, i1)             a[i0:i1] of a 2-D C-contiguous a as one 1-D view

(x a scalar, broadcast to every lane, or a vector.) They are Numba intrinsics: each call is
a few LLVM instructions inlined into the kernel, no function call. Bounds are not checked:
the caller keeps i + LANES within the array.
"""
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, models, register_model
from numba.np.arrayobj import populate_array

BYTES = 64   # one vector: a cache line


class Vector(types.Type):
    """The Numba type of a BYTES-byte vector of ``dtype`` (float32 or float64)."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.lanes = BYTES * 8 // dtype.bitwidth
        super().__init__(name=f"Vector({dtype} x {self.lanes})")


@register_model(Vector)
class _VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        lane = dmm.lookup(fe_type.dtype).get_value_type()
        super().__init__(dmm, fe_type, ir.VectorType(lane, fe_type.lanes))


def _pointer(context, builder, array_type, array, index, vector_type):
    """A pointer to element ``index`` of a 1-D array, as a pointer to a vector."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.bitcast(builder.gep(data, [index]), vector_type.as_pointer())


def _broadcast(builder, value, vector_type):
    """A vector of ``value`` in every lane."""
    undef = ir.Constant(vector_type, None)
    first = builder.insert_element(undef, value, ir.Constant(ir.IntType(32), 0))
    lanes = ir.Constant(ir.VectorType(ir.IntType(32), vector_type.count), [0] * vector_type.count)
    return builder.shuffle_vector(first, undef, lanes)


def _floats(array, written=False):
    if not (isinstance(array, types.Array) and array.ndim == 1 and array.layout == "C"
            and isinstance(array.dtype, types.Float) and (array.mutable or not written)):
        raise TypeError(f"a vector needs a 1-D C-contiguous float array"
                        f"{' that can be written' if written else ''}, got {array}")
    return Vector(array.dtype)


@intrinsic
def vzero(typingctx, like):
    """A vector of 0s of 1-D float array ``like``'s dtype."""
    vector = _floats(like)

    def codegen(context, builder, sig, args):
        return ir.Constant(context.get_value_type(vector), None)
    return vector(like), codegen


@intrinsic
def vload(typingctx, array, index):
    """array[index:index + LANES] as a vector (1-D C-contiguous float array)."""
    vector = _floats(array)

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(vector)
        return builder.load(_pointer(context, builder, sig.args[0], args[0], args[1], ty),
                            align=vector.dtype.bitwidth // 8)
    return vector(array, index), codegen


@intrinsic
def load(typingctx, array, index):
    """array[index] (a 1-D array of floats or integers), as a plain load: Numba's own
    indexing adds a test for a negative index, which LLVM cannot drop when the index is
    computed, a compare and a conditional move before each number a tile reads."""
    if not (isinstance(array, types.Array) and array.ndim == 1
            and isinstance(array.dtype, (types.Float, types.Integer))):
        raise TypeError(f"load needs a 1-D array of numbers, got {array}")

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        return builder.load(builder.gep(data, [args[1]]))
    return array.dtype(array, index), codegen


@intrinsic
def prefetch(typingctx, array, index):
    """Start loading the cache line of array[index] (a 1-D float array) into L1, a hint
    that does not wait: for reads the hardware prefetcher does not foresee (rows of a
    matrix thousands of bytes apart)."""
    _floats(array)

    def codegen(context, builder, sig, args):
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(builder.gep(data, [args[1]]), i8p),
                          ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.none(array, index), codegen


@intrinsic
def vstore(typingctx, array, index, value):
    """array[index:index + LANES] = value (a vector of the array's dtype)."""
    if _floats(array, written=True) != value:
        raise TypeError(f"cannot store {value} into {array}")

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(sig.args[2])
        builder.store(args[2], _pointer(context, builder, sig.args[0], args[0], args[1], ty),
                      align=value.dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.none(array, index, value), codegen


@intrinsic
def vfma(typingctx, x, y, acc):
    """x · y + acc in every lane (x a scalar, broadcast, or a vector): one fused
    multiply-add, one rounding, where the CPU has them (LLVM's ``fmuladd``; a multiply and
    an add, two roundings, on one without, as the row form's loops then compute too)."""
    if not isinstance(acc, Vector) or y != acc or not (x == acc or isinstance(x, types.Number)):
        raise TypeError(f"vfma needs vectors y, acc of one type and x a number or such a "
                        f"vector, got {x}, {y}, {acc}")

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(acc)
        xv = args[0]
        if not isinstance(sig.args[0], Vector):
            xv = _broadcast(builder, context.cast(builder, args[0], sig.args[0], acc.dtype), ty)
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ty, [ty, ty, ty]),
            f"llvm.fmuladd.v{acc.lanes}f{acc.dtype.bitwidth}")
        return builder.call(fma, [xv, args[1], args[2]])
    return acc(x, y, acc), codegen


ROWS8 = 8  # rows that ``transpose8`` turns into columns


@intrinsic
def transpose8(typingctx, dst, d0, ldd, src, s0, lds):
    """dst[d0 + k ldd + r] = src[s0 + r lds + k] for r < 8 and k < LANES: 8 rows of a vector
    each, lds apart in src, written as LANES runs of 8 numbers, ldd apart in dst (the
    packing of a block of rows of a matrix, column by column). 8 vector loads, a
    network of two-vector shuffles (one instruction each on AVX-512), 8-number stores:
    a fraction of a nanosecond a number, where a scalar copy of the transpose took 2-3."""
    vector = _floats(src)
    if _floats(dst, written=True) != vector:
        raise TypeError(f"transpose8 needs arrays of one dtype, got {dst}, {src}")
    lanes = vector.lanes

    def codegen(context, builder, sig, args):
        ty = context.get_value_type(vector)
        i32 = ir.IntType(32)
        d0, ldd, s0, lds = (context.cast(builder, args[i], sig.args[i], types.intp)
                            for i in (1, 2, 4, 5))
        intp = d0.type
        rows = [builder.load(_pointer(context, builder, sig.args[3], args[3],
                                      builder.add(s0, builder.mul(lds, ir.Constant(intp, r))),
                                      ty), align=vector.dtype.bitwidth // 8)
                for r in range(ROWS8)]
        per = lanes // ROWS8   # columns k in one output vector (position q: k = q // 8, r = q % 8)
        half = ir.VectorType(ty.element, ROWS8)

        def shuffle(a, b, pick):   # lane q from a (pick[q] = (0, i)) or b ((1, i)), else lane 0
            mask = [0 if p is None else p[0] * lanes + p[1] for p in pick]
            return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(i32, lanes), mask))

        for m in range(ROWS8):
            want = [(q % ROWS8, m * per + q // ROWS8) for q in range(lanes)]   # (row, k) at q
            level = [shuffle(rows[2 * g], rows[2 * g + 1],
                             [(r - 2 * g, k) if r // 2 == g else None for r, k in want])
                     for g in range(ROWS8 // 2)]
            size = 2   # rows each vector of ``level`` holds, in their final lanes
            while len(level) > 1:
                level = [shuffle(level[2 * g], level[2 * g + 1],
                                 [(0, q) if want[q][0] // size == 2 * g else
                                  (1, q) if want[q][0] // size == 2 * g + 1 else None
                                  for q in range(lanes)]) for g in range(len(level) // 2)]
                size *= 2
            out = level[0]
            for p in range(per):   # the runs of 8 of column k = m per + p
                run = out if per == 1 else builder.shuffle_vector(
                    out, out, ir.Constant(ir.VectorType(i32, ROWS8),
                                          list(range(p * ROWS8, (p + 1) * ROWS8))))
                at = builder.add(d0, builder.mul(ldd, ir.Constant(intp, m * per + p)))
                builder.store(run, _pointer(context, builder, sig.args[0], args[0], at, half),
                              align=vector.dtype.bitwidth // 8)
        return context.get_dummy_value()
    return types.none(dst, d0, ldd, src, s0, lds), codegen


@intrinsic
def flat_rows(typingctx, array, i0, i1):
    """Rows i0..i1 of a 2-D C-contiguous array as one flat 1-D view of (i1 - i0) × columns
    numbers (they are contiguous), without Numba's reshape, whose checks and error paths
    compile for a quarter of a second more. Bounds are not checked."""
    if not (isinstance(array, types.Array) and array.ndim == 2 and array.layout == "C"):
        raise TypeError(f"flat_rows needs a 2-D C-contiguous array, got {array}")
    view = array.copy(ndim=1, layout="C")

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        first, last = (context.cast(builder, v, t, types.intp)
                       for v, t in zip(args[1:], sig.args[1:]))
        columns = builder.extract_value(src.shape, 1)
        out = context.make_array(view)(context, builder)
        populate_array(out, data=builder.gep(src.data, [builder.mul(first, columns)]),
                       shape=[builder.mul(builder.sub(last, first), columns)],
                       strides=[src.itemsize], itemsize=src.itemsize, meminfo=src.meminfo,
                       parent=src.parent)
        return impl_ret_borrowed(context, builder, view, out._getvalue())
    return view(array, i0, i1), codegen
