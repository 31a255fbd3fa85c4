"""The GPU path of the NSBAS inversion (numpy/CuPy solver, ``device="gpu"``) on a strict stand-in for
CuPy (tests/_strict_cupy.py): no GPU needed, host/device mix-ups fail as on a GPU, and the result
equals the compiled CPU kernel's."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from tests._strict_cupy import cupy as strict_cupy

from kansho.inversion import invert_nsbas


@pytest.fixture
def fake_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", strict_cupy)


def _frame(n_epoch: int, npix: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Short pairs, a few long ones, 10 % NaNs, a network gap at a fifth of the pixels, coherence weights."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_epoch) * 12 / 365.25
    pairs = np.array([(i, j) for i in range(n_epoch) for j in range(i + 1, min(n_epoch, i + 4))]
                     + [(i, i + 10) for i in range(0, n_epoch - 10, 5)])
    truth = np.cumsum(rng.normal(0, 2, (n_epoch, npix)), axis=0) + 20 * t[:, None]
    ifg = truth[pairs[:, 1]] - truth[pairs[:, 0]] + rng.normal(0, 1.5, (len(pairs), npix))
    ifg[rng.random(ifg.shape) < 0.1] = np.nan
    mid = n_epoch // 2
    crossing = (pairs[:, 0] < mid) & (pairs[:, 1] >= mid)
    ifg[np.ix_(crossing, np.arange(npix // 5))] = np.nan
    coh = rng.uniform(0.2, 0.95, ifg.shape)
    return ifg, pairs, t, 2 * coh**2 / (1 - coh**2)


@pytest.mark.parametrize("annual", [False, True])
def test_gpu_path_equals_the_cpu_kernel(fake_cupy: None, annual: bool) -> None:
    ifg, pairs, t, w = _frame(24, 600, seed=3)
    ifg[1:, :6] = np.nan  # one pair only: the model is not pinned, those pixels go to the SVD on the CPU
    cpu = invert_nsbas(ifg, pairs, t, weights=w, annual=annual, device="cpu")
    gpu = invert_nsbas(ifg, pairs, t, weights=w, annual=annual, device="gpu")
    assert np.array_equal(cpu.solved, gpu.solved)
    s = cpu.solved
    scale = np.nanmax(np.abs(cpu.cum[:, s]))
    # float64 solves of the same normal equations by two algorithms (banded Cholesky + Woodbury against
    # the compiled kernel): round-off, far inside the 1e-6 relative the GPU path is held to
    assert np.nanmax(np.abs(gpu.cum[:, s] - cpu.cum[:, s])) / scale < 1e-9
    assert np.allclose(gpu.vel[s], cpu.vel[s], rtol=0, atol=1e-6 * np.nanmax(np.abs(cpu.vel[s])))


def test_gpu_path_solves_in_large_batches(fake_cupy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """On the GPU a batch holds far more pixels than on the CPU (kernel launches, not memory, are the
    cost there), and batches of any size give the same answer."""
    from kansho import inversion

    calls: list[int] = []
    real = inversion._normal_solve

    def spy(w: np.ndarray, *a: object, **k: object) -> np.ndarray:
        calls.append(w.shape[1])
        return real(w, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(inversion, "_normal_solve", spy)
    ifg, pairs, t, w = _frame(60, 4000, seed=5)
    one = invert_nsbas(ifg, pairs, t, weights=w, device="gpu")
    assert calls == [4000]
    calls.clear()
    monkeypatch.setenv("KANSHO_NO_JIT", "1")  # the same numpy solver on the CPU: its work budget splits it
    cpu = invert_nsbas(ifg, pairs, t, weights=w, device="cpu")
    assert len(calls) > 1 and sum(calls) == 4000
    calls.clear()
    small = invert_nsbas(ifg, pairs, t, weights=w, device="gpu", max_batch=700)
    assert max(calls) == 700 and sum(calls) == 4000
    assert np.allclose(one.cum, cpu.cum, rtol=0, atol=1e-9, equal_nan=True)
    assert np.allclose(one.cum, small.cum, rtol=0, atol=1e-9, equal_nan=True)


def test_strict_stand_in_refuses_host_arrays() -> None:
    """The stand-in is as strict as CuPy where the GPU path could go wrong."""
    a = strict_cupy.asarray(np.ones(3))
    with pytest.raises(TypeError):
        _ = a + np.ones(3)
    with pytest.raises(ValueError):
        strict_cupy.repeat(a, strict_cupy.asarray(np.array([1, 2, 0])))
    assert isinstance((a * 2).get(), np.ndarray)
