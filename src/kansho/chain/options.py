"""Options as a step sees them: every option it reads is recorded, and its skip key follows.

A step reads its options through :class:`Options` (``ctx.cfg.invert.gamma``). The runner keeps
what each step read (dotted name -> value) in ``work/state.json``; on the next run the step is
up to date only if every option it read then still has that value and its upstream steps are up
to date. Nothing is hand-listed, so a step that reads another section's option (the loop step
reads ``invert.gamma`` for its no-loop check) re-runs when that option changes.

Options that only say *how* to compute (workers, scheduler, memory, block size, GPU) are not
recorded: they do not change results.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, cast

from pydantic import BaseModel

from kansho.config import RunConfig

#: top-level options that change how a run computes, never what it computes
EXECUTION_OPTIONS = frozenset({"block_size", "workers", "scheduler", "memory_limit", "gpu"})


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


class _Tracked:
    """Attribute access to a config model (or one of its sections) that records each leaf read."""

    def __init__(self, model: BaseModel, prefix: str, reads: dict[str, Any]) -> None:
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_prefix", prefix)
        object.__setattr__(self, "_reads", reads)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._model, name)
        path = self._prefix + name
        if isinstance(value, BaseModel):
            return _Tracked(value, path + ".", self._reads)
        if path not in EXECUTION_OPTIONS and not name.startswith("model_"):
            self._reads[path] = _jsonable(value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("a step must not change the run's options")


class Options:
    """The run's options, recording what is read (see the module docstring)."""

    def __init__(self, cfg: RunConfig) -> None:
        self.model = cfg
        self.reads: dict[str, Any] = {}

    def tracked(self) -> RunConfig:
        """The options, typed as :class:`RunConfig`; every leaf read is recorded in :attr:`reads`."""
        return cast(RunConfig, _Tracked(self.model, "", self.reads))

    def given(self, section: str) -> set[str]:
        """Options of ``section`` the user set (command line or config file), recorded as read: a
        step whose results depend on which thresholds were given (``mask.adapt``) re-runs when that
        changes, even if a given value equals the default."""
        names = set(getattr(self.model, section).model_fields_set)
        self.reads[f"{section}{GIVEN}"] = sorted(names)
        return names

    def whole(self) -> RunConfig:
        """The options as a model, for code that walks all of them: records every result option as read."""
        for name in result_option_names(self.model):
            self.reads[name] = value_of(self.model, name)
        return self.model


def result_option_names(cfg: RunConfig) -> list[str]:
    """Dotted names of every option that can change results (all but :data:`EXECUTION_OPTIONS`)."""
    names = []
    for name, value in cfg:
        if isinstance(value, BaseModel):
            names += [f"{name}.{sub}" for sub in type(value).model_fields]
        elif name not in EXECUTION_OPTIONS:
            names.append(name)
    return names


#: suffix of a recorded read that stands for the set of options given in a section ("mask:given")
GIVEN = ":given"


def value_of(cfg: RunConfig, dotted: str) -> Any:
    """The JSON value of option ``dotted`` ("invert.gamma") in ``cfg``; ``KeyError`` if it does not exist.
    ``"<section>:given"`` is the sorted list of the section's options the user set."""
    if dotted.endswith(GIVEN):
        sub = getattr(cfg, dotted[: -len(GIVEN)], None)
        if not isinstance(sub, BaseModel):
            raise KeyError(dotted)
        return sorted(sub.model_fields_set)
    obj: Any = cfg
    for part in dotted.split("."):
        if not isinstance(obj, BaseModel) or part not in type(obj).model_fields:
            raise KeyError(dotted)
        obj = getattr(obj, part)
    return _jsonable(obj)


def skip_key(step: str, reads: dict[str, Any], upstream: str, fingerprint: str = "") -> str:
    """Hash of a step's identity: its name, the options it read with their values, its upstream key
    and (for ingest) the input fingerprint."""
    blob = json.dumps([step, sorted(reads.items()), upstream, fingerprint], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
