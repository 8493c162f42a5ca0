"""The layout probe decodes a kernel's mistakes into places: checked with stand-in kernels on the CPU."""

import numpy as np
import pytest

from kernels.gemm import layout_probe

SHAPE = (64, 320, 48)  # a small probe: B's columns pass one code block (256)


def _right(a, b):
    return a @ b


def test_a_right_kernel_reads_every_place_exactly():
    found = layout_probe.probe(_right, SHAPE)
    assert found.exact and found.stray == 0
    assert "both copies (I@B, A@I) exact" in found.summary()


def test_the_default_shape_decodes_exactly_in_bf16_range():
    found = layout_probe.probe(_right)
    assert found.exact
    assert found.b.cols.max() == layout_probe.SHAPE[1] - 1  # columns past the first code block come back


def test_a_swizzle_mistake_in_b_moves_the_columns_of_both_copies():
    swap = np.arange(SHAPE[1]) ^ 8  # B's columns read from the neighbouring 8-column chunk
    m, n, k = SHAPE

    found = layout_probe.probe(lambda a, b: a @ b[:, swap], SHAPE)
    assert not found.exact and found.b.wrong().all()
    np.testing.assert_array_equal(found.a.rows, np.indices((m, k))[0])  # A's rows all right...
    assert (found.a.cols == swap[:k]).all()  # ...its columns moved as the identity's were
    text = found.summary()
    assert f"I@B wrong at {k * n} of" in text
    assert "read (row+0, col+8)" in text and "read (row+0, col-8)" in text
    assert "first I@B(0, 0) <- (0, 8)" in text


def test_a_k_index_mistake_in_a_moves_rows_of_one_copy_and_columns_of_the_other():
    kappa = np.arange(SHAPE[2])[::-1]  # A's K index read backwards

    found = layout_probe.probe(lambda a, b: a[:, kappa] @ b, SHAPE)
    assert (found.b.rows == kappa[:, None]).all() and (found.b.cols == np.arange(SHAPE[1])).all()
    assert (found.a.cols == kappa).all() and (found.a.rows == np.arange(SHAPE[0])[:, None]).all()


def test_a_k_slice_that_never_lands_reads_as_zero():
    def lost_last_slice(a, b):
        a, b = a.copy(), b.copy()
        a[:, 32:] = 0  # K past 32 never reaches the tensor cores
        b[32:] = 0
        return a @ b

    found = layout_probe.probe(lost_last_slice, SHAPE)
    m, n, k = SHAPE
    assert found.a.wrong()[:, 32:].all() and not found.a.wrong()[:, :32].any()
    assert found.b.wrong()[32:].all() and not found.b.wrong()[:32].any()
    assert f"{m * (k - 32)} never read (zero)" in found.a.summary()
    assert found.b.rows[40, 0] == layout_probe.NOT_READ


def test_sums_of_places_and_stray_values_are_counted():
    def doubled_and_stray(a, b):
        c = a @ b
        c[0, 0] += 0.5  # not a whole code: a mix
        c[-1, -1] = 7.0  # past K in both probes: must stay zero
        return c

    found = layout_probe.probe(doubled_and_stray, SHAPE)
    assert found.stray == 4  # one per product
    assert found.a.rows[0, 0] == layout_probe.MIXED
    assert "a mix of places" in found.a.summary()
    assert "4 stray non-zeros" in found.summary()


def test_maps_are_saved_for_offline_reading(tmp_path):
    swap = np.arange(SHAPE[0]) ^ 1
    found = layout_probe.probe(lambda a, b: (a[swap]) @ b, SHAPE)
    found.save(tmp_path / "probe" / "wgmma-bf16.npz")
    saved = np.load(tmp_path / "probe" / "wgmma-bf16.npz")
    np.testing.assert_array_equal(saved["a_rows"], found.a.rows)
    np.testing.assert_array_equal(saved["b_cols"], found.b.cols)
    assert tuple(saved["shape"]) == SHAPE and int(saved["stray"]) == 0
    assert found.a.rows[0, 0] == 1 and found.a.rows[1, 0] == 0


@pytest.mark.parametrize("dtype", [np.float16])
def test_codes_survive_16_bit_storage(dtype):
    rounded = layout_probe.probe(lambda a, b: (a @ b).astype(dtype).astype(np.float32))
    assert rounded.exact
