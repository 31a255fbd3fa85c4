"""Child process of :func:`kansho._jitcache.warm_in_background`: compiles the kernels of steps 1-3 to 1-6
into numba's cache while the parent compiles those of step 1-2.

It runs the chain on a 16 × 16 px, 8-epoch simulated frame in a temporary folder (the kernels are
compiled for the argument types the chain gives them), without the per-pixel correction of step 1-2
and the spatial check (the parent compiles those, but for the correction's last kernel, which the child
compiles after step 1-2's others: :func:`_settle_fix`) and without the outputs step (no kernel there).
Nothing is logged; after each step its name is written to stdout, a line of its own: the parent waits before a step of
:data:`kansho._jitcache.WAIT_STEPS` only until the child has reported it, not for the whole child.
With ``--large`` the frame is inverted by the compiled NSBAS kernel, as a large frame is
(:func:`kansho.inversion.use_compiled`); without it (a small demo) by numpy, as the demo's frame is.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

#: the steps the child runs
STEPS = ["ingest", "qc", "loops", "invert", "vstd", "mask", "filter"]


def main(argv: list[str]) -> int:
    logging.disable(logging.CRITICAL)
    from kansho import inversion
    from kansho._jitcache import LARGE_FLAG
    from kansho._process import fewer_collections
    from kansho.chain.runner import run_timeseries
    from kansho.config import RunConfig
    from kansho.synth import SimConfig, simulate_frame

    if LARGE_FLAG in argv:  # the compiled NSBAS kernel too, as a large frame runs it (same argument types)
        inversion.COMPILED_MIN_PX = 0
    with fewer_collections(), tempfile.TemporaryDirectory(prefix="kansho-warm-") as tmp:
        simulate_frame(Path(tmp) / "sim", SimConfig(shape=(16, 16), n_epoch=8), rng=0)
        cfg = RunConfig()
        cfg.loops.pixel_errors = "off"
        cfg.loops.spatial_errors = "off"  # the parent compiles the spatial check's kernels too, first
        for step in STEPS:  # one at a time, each reported as its kernels are in the cache
            run_timeseries(Path(tmp) / "sim" / "GEOC", Path(tmp) / "ts", cfg, progress=False, steps=[step])
            if step == "loops":
                _settle_fix()
            if step == "invert":
                _phase_indicator()
            sys.stdout.write(step + "\n")
            sys.stdout.flush()
    return 0


def _settle_fix() -> None:
    """Compile the last kernel of step 1-2's per-pixel correction (:func:`kansho.loopfix.settle_fix`), which the
    child's run (the correction off) never reaches: the parent reaches it last in its step 1-2, after the cycle
    solver (~0.8 s of compilation there, a second or two before step 1-3, for which the child is then done
    ahead of it). Called with the types of the chain's call: float64 phase, int8 fixes and cycles, bool loops."""
    import numpy as np

    from kansho import loopfix

    loopfix.settle_fix(np.zeros((3, 2)), np.zeros((3, 2), np.int8), np.zeros((3, 2), np.int8),
                       np.array([[1, 1, -1]], np.int8), np.ones((1, 2), bool))


def _phase_indicator() -> None:
    """Compile step 1-3's phase-bias indicator, which the tiny frame never reaches: two of its pairs are dropped
    by the loop closure and the eight left close no triangle (the parent then compiled it, ~0.5 s, after the
    child had finished). Called as :func:`kansho.phasebias.phase_indicator` normalises any argument."""
    import numpy as np

    from kansho import phasebias

    phasebias.phase_indicator(np.zeros((3, 2)), np.array([[1, 1, -1]], np.int8), np.ones(1, bool))


if __name__ == "__main__":
    rc = main(sys.argv[1:])
    # the kernels are in the cache and the temporary frame is gone: skip the interpreter's teardown (~0.5 s of
    # freeing modules and compiled code, which the parent's wait_for_warm would wait for on a first run)
    os._exit(rc)
