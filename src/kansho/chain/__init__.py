"""The time-series chain (LiCSBAS Steps 0-2 and 1-1 ... 1-6) as a package.

- :mod:`kansho.chain.spec`: :class:`StepSpec`, the one record per step (name, LiCSBAS number,
  function, typed result, work arrays read and written, block tasks), and :class:`StepResult`.
- :mod:`kansho.chain.registry`: :data:`STEPS`, the chain in order. ``--steps``, skip/resume,
  progress, timings, ``info/`` and the report are derived from it.
- :mod:`kansho.chain.context`: what a running step sees (stores, tracked options, block mapping).
- :mod:`kansho.chain.runner`: :func:`run_timeseries` (skip keys from the options each step read).
- :mod:`kansho.chain.steps`: one module per step, with its block tasks and its result type.

This package imports nothing at import time, so its modules import each other without cycles;
use ``from kansho.chain.runner import run_timeseries`` (or ``kansho.run_timeseries``).
"""
