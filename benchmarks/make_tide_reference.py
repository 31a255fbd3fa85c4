"""Reference solid-earth tides from pysolid, for tests/test_tides.py.

pysolid (GPL, Milbert's solid.for wrapped) is only *run* here to produce numbers; it is not a
dependency of Kansho. Run it from a throw-away environment::

    python -m venv /tmp/pysolid_venv && /tmp/pysolid_venv/bin/pip install pysolid numpy
    /tmp/pysolid_venv/bin/python benchmarks/make_tide_reference.py [tests/data/tide_reference.json]

The JSON holds ``places`` (name, lat, lon in deg), ``times`` (UTC ISO strings, whole seconds:
pysolid takes integer h, m, s) and ``enu_m[i_time][i_place] = [east, north, up]`` in metres.
The places include the poles' neighbourhood and both sides of the date line; the times span
2014-2025 and straddle the leap seconds of 2015-06-30 and 2016-12-31.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path

import numpy as np

log = logging.getLogger("make_tide_reference")

PLACES = [
    ("equator_greenwich", 0.0, 0.0),
    ("mexico_city", 19.43, -99.13),
    ("tokyo", 35.68, 139.69),
    ("cape_town", -33.92, 18.42),
    ("reykjavik", 64.15, -21.94),
    ("svalbard", 78.22, 15.65),
    ("mcmurdo", -77.85, 166.67),
    ("dateline_east", -17.7, 179.99),
    ("dateline_west", -17.7, -179.99),
    ("north_pole_near", 89.5, 45.0),
    ("andes", -23.5, -67.8),
]

TIMES = [
    "2014-10-03T05:47:13", "2015-03-20T09:46:00", "2015-06-30T23:59:50", "2015-07-01T00:00:10",
    "2015-12-21T17:30:00", "2016-04-07T11:11:11", "2016-09-16T22:05:30", "2016-12-31T23:59:58",
    "2017-01-01T00:00:02", "2017-05-10T14:00:00", "2018-01-06T00:40:21", "2018-08-15T12:00:00",
    "2019-03-03T03:03:03", "2019-11-11T11:11:11", "2020-02-29T23:00:00", "2021-07-04T16:20:00",
    "2022-10-27T01:37:45", "2023-06-21T06:00:00", "2024-04-08T18:18:18", "2025-12-31T23:59:59",
]


def compute() -> dict[str, object]:
    from pysolid.solid import solid_grid  # the GPL program, run only

    enu = np.zeros((len(TIMES), len(PLACES), 3))
    for i, iso in enumerate(TIMES):
        t = dt.datetime.fromisoformat(iso)
        for j, (_, lat, lon) in enumerate(PLACES):
            e, n, u = solid_grid(t.year, t.month, t.day, t.hour, t.minute, t.second,
                                 lat, 0.0, 1, lon, 0.0, 1)
            enu[i, j] = [float(e[0, 0]), float(n[0, 0]), float(u[0, 0])]
    import pysolid
    return {
        "source": f"pysolid {pysolid.__version__} solid_grid (Milbert's solid.for), metres",
        "places": [{"name": n, "lat": la, "lon": lo} for n, la, lo in PLACES],
        "times": TIMES,
        "enu_m": np.round(enu, 9).tolist(),
    }


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "tests/data/tide_reference.json"
    ref = compute()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(ref, indent=1) + "\n")
    log.info("wrote %s: %d times x %d places", out, len(TIMES), len(PLACES))


if __name__ == "__main__":
    main(sys.argv)
