"""The chain, in order: one :class:`~kansho.chain.spec.StepSpec` per step.

Adding a step is one new module in :mod:`kansho.chain.steps` (its function, block tasks, typed
result and ``SPEC``) and one entry here; ``--steps``, skip/resume, progress, timings, the report's
step table and the docs follow from this tuple (``docs/architecture.md`` walks through an example).
"""

from __future__ import annotations

from typing import Any

from kansho.chain.spec import StepResult, StepSpec
from kansho.chain.steps import filter as filter_step
from kansho.chain.steps import ingest, invert, loops, mask, outputs, qc, vstd

STEPS: tuple[StepSpec, ...] = (
    ingest.SPEC, qc.SPEC, loops.SPEC, invert.SPEC, vstd.SPEC, mask.SPEC, filter_step.SPEC, outputs.SPEC,
)


def spec(name: str) -> StepSpec:
    """The record of step ``name``; ``KeyError`` if there is none."""
    for s in STEPS:
        if s.name == name:
            return s
    raise KeyError(name)


def result_from_record(name: str, record: dict[str, Any]) -> StepResult:
    """The typed result of step ``name`` from its ``work/state.json`` record."""
    return spec(name).result.from_json(record["result"])
