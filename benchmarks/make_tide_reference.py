"""Reference solid-earth tides for tests/test_tides.py, from two programs Kansho does not use.

* ``pysolid`` (GPL, Milbert's solid.for wrapped; low-precision Sun and Moon series) →
  ``tests/data/tide_reference.json``. It is only *run* here to produce numbers.
* ``pytmd`` → ``tests/data/tide_reference_iers.json``: pyTMD's own IERS 2010 displacement
  (``pyTMD.predict.solid_earth_tide``, MIT, a separate coding of §7.1.1 steps 1 and 2) fed with
  geometric Sun and Moon positions from ERFA (``epv00``, ``moon98``) rotated GCRS → ITRS by astropy
  (IAU 2006/2000A with the IERS Earth orientation it bundles, so with UT1 - UTC and polar motion,
  which Kansho leaves out); the Earth-fixed displacement is turned into geodetic east/north/up here.
  This is the reference the tide is validated against to 0.1 mm (docs/corrections_tides.md).

Run either from a throw-away environment::

    python -m venv /tmp/tide_venv && /tmp/tide_venv/bin/pip install pysolid pyTMD astropy numpy
    /tmp/tide_venv/bin/python benchmarks/make_tide_reference.py pysolid
    /tmp/tide_venv/bin/python benchmarks/make_tide_reference.py pytmd

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


#: the pyTMD reference adds a grid: 9 latitudes x 8 longitudes at 40 random times 2014-2026
GRID_LAT = [-80.0, -60.0, -40.0, -20.0, 0.0, 20.0, 40.0, 60.0, 80.0]
GRID_LON = [-157.5, -112.5, -67.5, -22.5, 22.5, 67.5, 112.5, 157.5]


def _random_times(n: int = 40, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    t0 = dt.datetime(2014, 1, 1)
    return [(t0 + dt.timedelta(seconds=int(s))).isoformat() for s in rng.uniform(0, 13 * 365.25 * 86400, n)]


def _sun_moon_itrs(times: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Geometric geocentric Sun and Moon (m), ERFA in TT, rotated GCRS -> ITRS by astropy: (n, 3) each."""
    import astropy.units as un
    import erfa
    from astropy.coordinates import GCRS, ITRS, CartesianRepresentation
    from astropy.time import Time
    from astropy.utils import iers

    iers.conf.auto_download = False          # the bundled IERS tables; no network
    t = Time(times, scale="utc")
    jd1, jd2 = t.tt.jd1, t.tt.jd2
    au = 149597870700.0
    bodies = (-erfa.epv00(jd1, jd2)[0]["p"] * au, erfa.moon98(jd1, jd2)["p"] * au)
    out = [GCRS(CartesianRepresentation(v.T * un.m), obstime=t).transform_to(ITRS(obstime=t))
           .cartesian.xyz.to("m").value.T for v in bodies]
    return out[0], out[1]


def _pytmd_enu(lat: np.ndarray, lon: np.ndarray, times: list[str]) -> np.ndarray:
    """pyTMD's IERS 2010 displacement at places (p,) and times (t,) → (t, p, 3) geodetic E/N/U, m."""
    import pyTMD.earth
    import pyTMD.predict
    import pyTMD.spatial
    import timescale.time
    import xarray as xr

    datum = pyTMD.earth.datum(ellipsoid="WGS84", units="MKS")
    ts = timescale.time.Timescale().from_datetime(np.array(times, dtype="datetime64[us]"))
    x, y, z = pyTMD.spatial.to_cartesian(lon, lat, a_axis=datum.a_axis, flat=datum.flat)
    xyz = xr.Dataset({"X": ("p", x), "Y": ("p", y), "Z": ("p", z)})
    sun, moon = _sun_moon_itrs(times)
    body = [xr.Dataset({k: ("time", v[:, i]) for i, k in enumerate("XYZ")}, coords={"time": ts.MJD})
            for v in (sun, moon)]
    se = pyTMD.predict.solid_earth_tide(ts.tide, xyz, body[0], body[1], deltat=ts.tt_ut1,
                                        a_axis=datum.a_axis, tide_system="tide_free")
    d = np.stack([np.asarray(se[k].transpose("p", "time")) for k in "XYZ"], axis=-1)   # (p, t, 3)
    la, lo = np.radians(lat)[:, None], np.radians(lon)[:, None]
    e = -np.sin(lo) * d[..., 0] + np.cos(lo) * d[..., 1]
    n = -np.sin(la) * np.cos(lo) * d[..., 0] - np.sin(la) * np.sin(lo) * d[..., 1] + np.cos(la) * d[..., 2]
    u = np.cos(la) * np.cos(lo) * d[..., 0] + np.cos(la) * np.sin(lo) * d[..., 1] + np.sin(la) * d[..., 2]
    return np.stack([e, n, u], axis=-1).transpose(1, 0, 2)


def compute_pytmd() -> dict[str, object]:
    import pyTMD

    lat = np.array([p[1] for p in PLACES])
    lon = np.array([p[2] for p in PLACES])
    glat, glon = (a.ravel() for a in np.meshgrid(GRID_LAT, GRID_LON, indexing="ij"))
    gtimes = _random_times()
    return {
        "source": f"pyTMD {pyTMD.__version__} solid_earth_tide (IERS 2010) with ERFA epv00/moon98 "
                  "positions rotated GCRS->ITRS by astropy; geodetic E/N/U, metres",
        "places": [{"name": n, "lat": la, "lon": lo} for n, la, lo in PLACES],
        "times": TIMES,
        "enu_m": np.round(_pytmd_enu(lat, lon, TIMES), 9).tolist(),
        "grid": {"lat": glat.tolist(), "lon": glon.tolist(), "times": gtimes,
                 "enu_m": np.round(_pytmd_enu(glat, glon, gtimes), 9).tolist()},
    }


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    which = argv[1] if len(argv) > 1 else "pysolid"
    if which not in ("pysolid", "pytmd"):
        raise SystemExit("usage: make_tide_reference.py [pysolid|pytmd] [OUT.json]")
    name = "tide_reference.json" if which == "pysolid" else "tide_reference_iers.json"
    out = Path(argv[2]) if len(argv) > 2 else Path(__file__).resolve().parents[1] / "tests/data" / name
    ref = compute() if which == "pysolid" else compute_pytmd()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(ref, indent=1) + "\n")
    log.info("wrote %s", out)


if __name__ == "__main__":
    main(sys.argv)
