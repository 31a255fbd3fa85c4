"""Step 0-2 (with 0-3 delay layers, 0-4 mask, 0-5 clip): read the input folder into the stack store."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kansho.chain.budget import warn_frame_memory
from kansho.chain.context import Context
from kansho.chain.spec import StepResult, StepSpec
from kansho.errors import InputError
from kansho.io.inputs import InputSet, discover_inputs, validate_inputs
from kansho.io.radar_meta import resolve_wavelength
from kansho.store import create_stack, stack_grid


@dataclass
class IngestResult(StepResult):
    """What was ingested: sizes, the input layout, the wavelength (m) and the store's identity."""

    n_pair: int
    n_epoch: int
    shape: list[int]
    layout: str
    wavelength: float
    #: [pair, "0-3", reason] of pairs dropped by the preparation (a delay layer missing for a date)
    dropped: list[list[str]]
    reused: int
    appended_from: int
    store_id: str


def inputs_of(ctx: Context) -> InputSet:
    """The run's input set, discovered and validated once per run."""
    if ctx._inputs is None:
        if ctx.input_path is None:
            raise InputError(ctx.out, "no stack store yet: give the input folder")
        inputs = with_wavelength(discover_inputs(ctx.input_path), ctx.options.model.wavelength,
                                 ctx.options.model.band)
        validate_inputs(inputs)
        ctx._inputs = inputs
    return ctx._inputs


def with_wavelength(inputs: InputSet, given: float | None, band: str) -> InputSet:
    """``inputs`` with the wavelength the run uses (:func:`kansho.io.radar_meta.resolve_wavelength`:
    ``given`` over the input's; an InputError when neither is known) and where it came from."""
    source = str(inputs.metadata.get("wavelength_source", "unknown"))
    wl = resolve_wavelength(inputs.wavelength, source, inputs.root, given, band)
    if given is not None:
        source = "given (--wavelength/--freq)"
    return dataclasses.replace(inputs, wavelength=wl, metadata={**inputs.metadata, "wavelength_source": source})


def step_ingest(ctx: Context) -> IngestResult:
    """Discover and validate the input, prepare it (Steps 0-3 to 0-5), multilook, write the stack store."""
    if ctx.input_path is None:
        why = "its options changed (e.g. --wavelength)" if ctx.layout.stack.is_dir() else "no stack store yet"
        raise InputError(ctx.out, f"step ingest must run ({why}): give the input folder")
    from kansho.io.layers_report import write_corrections
    from kansho.io.prepare import plan_prep, write_prep_info

    inputs = inputs_of(ctx)
    _ = ctx.cfg.wavelength  # read here, so that a new --wavelength re-runs the chain from ingest
    icfg = ctx.cfg.ingest
    inputs, plan = plan_prep(inputs, icfg)
    grid = stack_grid(inputs, plan, icfg.nlook)
    ctx.frame_checked = True  # before the frame is read, not after
    warn_frame_memory((grid.height, grid.width), ctx.options.model, inputs.root)
    st = create_stack(inputs, ctx.out, nlook=icfg.nlook, min_valid_looks=icfg.min_valid_looks,
                      block=ctx.options.model.block_size, progress=ctx.progress, plan=plan,
                      strip_memory=strip_memory(ctx.options.model.memory_limit))
    ctx._stack = st
    write_prep_info(ctx.layout.info, st.attrs.get("prep", {}))
    write_corrections(ctx.layout.info, st.attrs.get("prep", {}))
    return IngestResult(
        n_pair=st.n_pair, n_epoch=int(st.epochs.size), shape=list(st.shape), layout=inputs.layout,
        wavelength=st.wavelength, dropped=[[n, "0-3", r] for n, r in plan.dropped],
        reused=int(st.attrs.get("reused_pairs", 0)), appended_from=int(st.attrs.get("appended_from", 0)),
        store_id=str(st.attrs.get("store_id", "")))


def strip_memory(memory_limit: str | None) -> float:
    """Bytes the stack store's strip buffers may take (:mod:`kansho.store_strips`): half the run's memory
    budget (:func:`kansho.parallel.memory_budget`), the rest left to the readers, the chunks being compressed and
    the interpreter; under a small budget no more than what the process leaves of it
    (:data:`kansho.chain.budget.PROCESS_RESERVE` and 50 MB; a 300-epoch frame's ingest at 600MB peaked at 625 MB
    with half), nor less than a quarter of it. Not an input of the step: the store is the same whatever it is."""
    from kansho.chain.budget import PROCESS_RESERVE
    from kansho.parallel import memory_budget

    total = memory_budget(memory_limit)
    return max(min(total / 2, total - PROCESS_RESERVE - 0.05e9), total / 4)


SPEC = StepSpec(name="ingest", licsbas="0-2", title="read the input into the stack store (with 0-3 GACOS, "
                "0-4 mask, 0-5 clip)", run=step_ingest, result=IngestResult, section="ingest")
