"""Many frames: a batch of time-series runs on a dask cluster, a static product catalogue, mosaics.

* :mod:`kansho.batch.frames` reads the list of frames (YAML or CSV);
* :mod:`kansho.batch.runner` runs each frame (download if from the portal, then the time series) as
  one dask task, records status in ``ROOT/status/`` and skips frames already done;
* :mod:`kansho.batch.catalog` writes ``ROOT/index.html`` and ``ROOT/catalog.json`` (STAC);
* :mod:`kansho.batch.mosaic` merges adjacent frames of one track (velocity, and cumulative
  displacement at common epochs) or decomposed east/up maps of several track pairs onto one grid
  with one reference;
* :mod:`kansho.batch.slurm` builds dask-jobqueue clusters (SLURM, PBS) from command-line options.
"""

from __future__ import annotations
