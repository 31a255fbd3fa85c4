"""The last step: ``results/*.tif``, ``cum.h5``, ``cum_filt.h5``, ``info/``, ``plots/`` and the report.

Names and units from :mod:`kansho.layout` (LiCSBAS's names, DESIGN §4). Every file is written
through a temporary name and a rename, so an interrupted run never leaves a half-written product.
Cubes are streamed block by block from the work store, never loaded whole.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kansho.chain.context import Context
from kansho.chain.info import write_info
from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps.filter import FilterResult
from kansho.chain.steps.loops import LoopsResult
from kansho.io.geotiff import write_geotiff
from kansho.io.licsbas_h5 import filter_keys, write_cum_h5
from kansho.layout import MASKED_MAPS, RESULT_MAPS
from kansho.sideproc import SideProcess

log = logging.getLogger(__name__)


@dataclass
class OutputsResult(StepResult):
    """The products written, relative to the run folder."""

    written: list[str]


def read_maps(ctx: Context) -> dict[str, np.ndarray]:
    """Every :data:`RESULT_MAPS` entry (float32), read from the work store."""
    read = ctx.read2d_many(list(dict.fromkeys(spec.source for spec in RESULT_MAPS.values())))
    # a float32 map as read (no copy of it made), the others converted
    return {name: read[spec.source].astype(np.float32, copy=False) for name, spec in RESULT_MAPS.items()}


def write_maps(ctx: Context, maps: dict[str, np.ndarray]) -> list[str]:
    """``results/*.tif``: every map of :func:`read_maps`, the masked maps and the DEM."""
    lay, st = ctx.layout, ctx.stack
    written: list[str] = []
    for name, spec in RESULT_MAPS.items():
        write_geotiff(lay.result_map(name), maps[name], st.grid, units=spec.units, description=spec.description)
        written.append(f"results/{name}.tif")
    keep = maps["mask"] == 1
    for name in MASKED_MAPS:
        m = np.where(keep, maps[name], np.nan).astype(np.float32)
        write_geotiff(lay.result_map(f"{name}.mskd"), m, st.grid, units=RESULT_MAPS[name].units,
                      description=f"{name} masked")
        written.append(f"results/{name}.mskd.tif")
    hgt = st.read2d("hgt").astype(np.float32)
    if np.isfinite(hgt).any():
        write_geotiff(lay.result_map("hgt"), hgt, st.grid, units="m", description="DEM height")
        written.append("results/hgt.tif")
    return written


def write_cubes(ctx: Context, maps: dict[str, np.ndarray], epochs: np.ndarray) -> list[str]:
    """``cum.h5`` and ``cum_filt.h5`` (LiCSBAS-compatible), streamed from the work store."""
    lay, st = ctx.layout, ctx.stack
    pos = {int(e): i for i, e in enumerate(st.epochs)}
    bperp = np.array([st.bperp[pos[int(e)]] for e in epochs], np.float64)
    r0, r1, c0, c1 = ctx.get(LoopsResult).ref  # the box, or the reference set's representative window
    gap = ctx.array("gap")
    fr = ctx.get(FilterResult)
    def write(path: Path, cube_name: str, vel_name: str) -> str:
        own = cube_name == "cum"  # the σ across gaps and the bridge model belong to the inverted series
        write_cum_h5(path, cum=ctx.array(cube_name), imdates=epochs, vel=maps[vel_name],
                     vintercept=maps["vintercept"], refarea=(r0, r1, c0, c1), grid=st.grid, gap=gap, bperp=bperp,
                     mask=maps["mask"], cum_std=ctx.array("cum_std") if own else None,
                     extra={"bridge_model": ctx.read2d("bridge_model")} if own else
                     filter_keys(fr.sigma_km, fr.sigma_yr, fr.deramp, fr.hgt_corr))
        return path.name

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="cube") as pool:
        filt = pool.submit(write, lay.cum_filt, "cum_filt", "vel.filt")
        return [write(lay.cum, "cum", "vel"), filt.result()]


def step_outputs(ctx: Context) -> OutputsResult:
    """Write every product of a finished chain under ``ctx.out``."""
    lay = ctx.layout
    for d in (lay.results, lay.info, lay.plots):
        d.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        # started ahead, as step 1-4 began (the step's prepare), or now (also where the local cluster, closed
        # before this step, kept it from starting): its imports overlap the reading below
        side = ctx.prepared.pop("outputs", None) or figure_process(ctx, stack)
        return _write_products(ctx, side)


def _write_products(ctx: Context, side: SideProcess | None) -> OutputsResult:
    lay = ctx.layout
    maps = read_maps(ctx)
    epochs = np.asarray(ctx.get(LoopsResult).epochs, np.int64)
    # the cubes and the GeoTIFFs are written by threads that release the GIL while the figures, mostly
    # Python, are drawn: the three overlap instead of following each other (none reads what another
    # writes; on a full frame the cubes take longest, on a small one the figures). With a side process
    # drawing them, this thread helps it only once the writers are done: drawing here would hold the GIL
    # they need (the M frame's cubes took ~8 s instead of ~1.5 s beside the cube overview drawn here)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="products") as pool:
        cubes = pool.submit(write_cubes, ctx, maps, epochs)
        tifs = pool.submit(write_maps, ctx, maps)
        written = _figures(ctx, maps, epochs, side, lambda: futures_wait([cubes, tifs]),
                           lambda: write_info(ctx, lay.info, epochs))
        from kansho.report import write_report

        write_report(ctx, lay.report, maps)
        written = tifs.result() + written + cubes.result()
    written.append(lay.report.name)
    return OutputsResult(written=written)


#: the module a side process drawing figures imports before its work comes (:class:`kansho.sideproc.SideProcess`)
SIDE_MODULES = ("kansho.plots",)
#: frames smaller than this draw every figure in the chain's process: a child Python takes about half a
#: second to start and import matplotlib (started at the outputs step's start, that overlaps the maps'
#: reading; the 200 x 200 px demo's figures: 2.3 s here alone, 1.75 s with one)
SIDE_MIN_PIXELS = 20_000
#: a run whose memory budget leaves less than this beside the chain's process
#: (:data:`kansho.chain.budget.PROCESS_RESERVE`) draws its figures in that process: the side process holds
#: ~70 MB once matplotlib is in and ~110 MB drawing a 400 x 400 px frame's figures, and under
#: ``--memory-limit 600MB`` took the 300-epoch frame's run to 604-608 MB
SIDE_MIN_ROOM = 0.5e9


def side_wanted(shape: tuple[int, int], memory_limit: str | None = None) -> bool:
    """Whether a frame of ``shape`` draws its figures in a side process (:func:`kansho.plots.write_all`) in a run
    of ``memory_limit`` (``--memory-limit``; None: the default budget)."""
    from kansho.chain.budget import PROCESS_RESERVE
    from kansho.parallel import memory_budget

    return shape[0] * shape[1] >= SIDE_MIN_PIXELS and memory_budget(memory_limit) - PROCESS_RESERVE >= SIDE_MIN_ROOM


def figure_process(ctx: Context, stack: contextlib.ExitStack) -> SideProcess | None:
    """A child Python for the figures (:func:`kansho.plots.write_all`), closed with ``stack``; None where the
    figures are all drawn here (a small frame or a dask cluster). Also the step's
    :attr:`~kansho.chain.spec.StepSpec.prepare`: started a few steps ahead, its start and matplotlib import
    (~0.5 s) overlap those steps; so does this process's own import of :mod:`kansho.plots` (~0.5 s, which
    this step needs to hand the figures over), in a thread (:func:`import_ahead`) instead of before the step
    that prepares this one."""
    if ctx.client is not None or not side_wanted(ctx.stack.shape, ctx.options.model.memory_limit):
        return None
    import_ahead(SIDE_MODULES)
    return stack.enter_context(SideProcess(SIDE_MODULES))


def import_ahead(modules: tuple[str, ...]) -> None:
    """Import ``modules`` in a thread of this process (a later import waits for it, or fails as it would have;
    a failure here is only logged)."""
    import importlib
    import threading

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 - imported again, and reported, where it is needed
                log.debug("could not import %s ahead: %s", name, exc)

    threading.Thread(target=run, name="kansho-import-ahead", daemon=True).start()


def _figures(ctx: Context, maps: dict[str, np.ndarray], epochs: np.ndarray, side: SideProcess | None,
             help_after: Callable[[], object], meanwhile: Callable[[], object]) -> list[str]:
    """``plots/*.png``; a figure that fails is logged, never fatal (the numbers are the products). ``meanwhile``
    (the info tables) runs once a side process has the figures' list (~0.3 s of the M frame's and the demo's
    outputs step it used to wait for), else before the figures are drawn here; its errors are the step's."""
    lay = ctx.layout
    ran: list[bool] = []
    failed: list[Exception] = []

    def first() -> None:
        ran.append(True)
        try:
            meanwhile()
        except Exception as exc:
            failed.append(exc)
            raise

    try:
        from kansho import plots as plotmod

        written = plotmod.write_all(ctx, lay.plots, maps, epochs, side, help_after=help_after, meanwhile=first)
    except Exception as exc:  # noqa: BLE001 - plotting must never lose a run's numerical products
        if failed:
            raise failed[0] from None
        log.warning("plots could not be drawn: %s", exc)
        written = []
    if not ran:  # the figures failed before it ran
        meanwhile()
    return written


SPEC = StepSpec(name="outputs", licsbas="out", title="results GeoTIFFs, cum.h5, info tables, plots and report",
                run=step_outputs, result=OutputsResult, prepare=figure_process, local_workers=False,
                inputs=("cum", "cum_std", "bridge_model", "cum_filt", "gap", "mask",
                        *(m.source for m in RESULT_MAPS.values())), kernels=False)
