"""kansho._columns: take_columns equals numpy's ``a[:, cols]``, put_columns its ``dst[:, cols] = src``."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hs

from kansho._columns import put_columns, take_columns


@settings(max_examples=200, deadline=None)
@given(rows=hs.integers(1, 7), n=hs.integers(1, 60), seed=hs.integers(0, 2**31), as_mask=hs.booleans(),
       dtype=hs.sampled_from([np.float32, np.float64, np.int8]), broadcast=hs.booleans())
def test_put_columns_equals_numpy(rows: int, n: int, seed: int, as_mask: bool, dtype: type, broadcast: bool) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random(n) < 0.5
    cols = mask if as_mask else rng.permutation(np.flatnonzero(mask))
    k = int(mask.sum())
    src = rng.normal(0, 50, (1, k) if broadcast else (rows, k))  # float64 into any dtype: the same casting
    src = src[0] if broadcast else src
    want = rng.normal(0, 50, (rows, n)).astype(dtype)
    assert np.array_equal(take_columns(want, cols), want[:, cols])
    got = want.copy()
    want[:, cols] = src.astype(dtype)
    put_columns(got, cols, src.astype(dtype))
    assert np.array_equal(got, want)
    got2 = rng.normal(0, 50, (rows, n)).astype(np.float32)
    want2 = got2.copy()
    want2[:, cols] = src  # float64 source cast on assignment, as put_columns does
    put_columns(got2, cols, src)
    assert np.array_equal(got2, want2)
