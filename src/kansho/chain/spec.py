"""The record of a chain step and the base of typed step results."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

#: steps ahead of its own at which a step's :attr:`StepSpec.prepare` is called (the outputs step's figure
#: process, started as step 1-4 begins, has imported matplotlib by the time the outputs step needs it)
PREPARE_AHEAD = 3


@dataclass
class StepResult:
    """Base of the typed result a step returns; stored as JSON in ``work/state.json``.

    Subclasses are dataclasses of JSON-able fields (numbers, strings, lists, dicts).
    """

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        """Rebuild from :meth:`to_json`; ``TypeError`` if a field is missing (a record of another version)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class StepSpec:
    """One step of the chain: everything the runner, ``--steps``, the report and the docs need.

    ``inputs`` are the work arrays the step reads (checked before it runs: a clear error instead
    of a KeyError deep inside); ``outputs`` the work arrays it leaves behind. The options it reads
    are not listed: the runner records them while the step runs (:class:`kansho.chain.context.Options`)
    and derives the step's skip key from them.
    """

    name: str
    licsbas: str
    title: str
    #: the step: ``run(ctx: kansho.chain.context.Context) -> result``
    run: Callable[..., StepResult]
    result: type[StepResult]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    #: its block/epoch tasks, each ``task(t: kansho.chain.tasks.Task)``
    tasks: tuple[Callable[..., Any], ...] = ()
    #: the config section of its own options (for --help and the docs)
    section: str | None = None
    #: a slow start that may overlap the steps before it: ``prepare(ctx, exits)`` is called as the run begins
    #: the step :data:`PREPARE_AHEAD` places earlier (when this one is wanted too) and what it returns is kept in
    #: ``ctx.prepared[name]`` for the step (anything it starts is closed with ``exits``, the run's exit stack)
    prepare: Callable[..., Any] | None = None
    #: False: the step gains nothing from a local cluster's workers (``--workers``): the runner closes that
    #: cluster before it, so the workers' memory is not held through it (a ``--scheduler``'s stays)
    local_workers: bool = True
    #: False: the step usually calls no compiled kernel (numba's one-time setup, started in a thread as a step
    #: that does begins, :func:`kansho._jitcache.set_up_numba`, would only take the GIL from its Python)
    kernels: bool = True
