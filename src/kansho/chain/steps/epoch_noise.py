"""Step 1-3's measure of each epoch's noise (``invert.epoch_weight: noise``).

Each block of the first pass counts the residuals of its pixels' lines per epoch
(:func:`kansho.velocity.epoch_residual_stats`) into its own chunk of the work array :data:`EPOCH_HIST`;
the step then sums them a block at a time into each epoch's σ and weight
(:func:`kansho.velocity.epoch_weights`). The histograms, (n_epoch, N_RESID_BINS) counts a block
(~4.8 MB for 300 epochs whatever the block's size), are not returned by the tasks: a run held every
block's at once (811 MB for the 169 blocks of a 400 x 400 px, 300-epoch frame under
``--memory-limit 600MB``) and pickled each for the step's resume.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from kansho import network
from kansho._columns import count_true
from kansho.chain.context import Context
from kansho.velocity import N_RESID_BINS, epoch_residual_stats, epoch_weights

log = logging.getLogger(__name__)

#: work array of the blocks' residual histograms: (n_block, n_epoch, N_RESID_BINS) int32, a block a chunk
EPOCH_HIST = "epoch_hist"


def new_array(ctx: Context, n_epoch: int) -> None:
    """Create :data:`EPOCH_HIST` for the blocks of ``ctx`` (kept as it is by a resumed step)."""
    nby, nbx = (-(-n // ctx.block) for n in ctx.stack.shape)
    ctx.new_array(EPOCH_HIST, (nby * nbx, n_epoch, N_RESID_BINS), "i4", 0, chunks=(1, n_epoch, N_RESID_BINS))


def put_block(work: Any, rows: slice, cols: slice, block: int, nx: int, cblk: np.ndarray, gaps: np.ndarray,
              pairs: np.ndarray, t: np.ndarray) -> None:
    """The histograms of the block at ``rows``, ``cols`` (of side ``block`` in a frame ``nx`` px wide) into its
    chunk of :data:`EPOCH_HIST`: its series ``cblk`` (n_epoch, npix) mm, read where every epoch is data rather
    than the bridge's model, at the pixels whose own gaps ``gaps`` (n_epoch - 1, npix) are the network's
    (``pairs`` (npair, 2) epoch indices, ``t`` (n_epoch,) yr): a local gap's epochs, fitted by the model, show no
    noise and would weigh those epochs up for every pixel."""
    whole = count_true(gaps) == int(network.gaps(pairs, t.size).sum())
    work[EPOCH_HIST][(rows.start // block) * -(-nx // block) + cols.start // block] = \
        epoch_residual_stats(cblk, t, whole)


def weights(ctx: Context, epochs: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Each epoch's noise σ (mm) and weight from the blocks' histograms, summed a block at a time; (None, None),
    equal weights, where nothing was measured."""
    hists = ctx.array(EPOCH_HIST)
    total = np.zeros(hists.shape[1:], np.int64)
    for k in range(hists.shape[0]):
        total += np.asarray(hists[k], np.int64)
    sigma, ew = epoch_weights(total)
    if not np.isfinite(sigma).all():
        log.info("1-3: epoch weights not used: no pixel solved at every epoch to measure their noise")
        return None, None
    lo, hi = int(np.argmin(sigma)), int(np.argmax(sigma))
    log.info("1-3: epoch noise (spread of the residuals of the pixels' lines) %.3g mm (median), from %.3g mm (%d) "
             "to %.3g mm (%d): velocity and bridge weighted by 1/σ² (invert.epoch_weight, info/13epoch_noise.txt)",
             float(np.median(sigma)), sigma[lo], epochs[lo], sigma[hi], epochs[hi])
    return sigma, ew
