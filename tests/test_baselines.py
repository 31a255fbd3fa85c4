"""B⊥ from GAMMA per-pair baseline files (kansho.io.baselines), checked on the real Mexico City stack's files.

Known values, read by hand from the files in ``shared/data/real/mexico_city_s1/geometry``:
``20180106-20180130_VV_8rlks_base.par`` has precision_baseline(TCN) = (0, 40.1010426, 4.5164084) m;
its ``_bperp.par`` table has bperp 30.2803 m at line 2500 / range 4200 and 30.1713 m at line 2000 /
range 4200, around the scene centre (line 2270, range 4256.5 of 4541 x 8514).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from kansho.errors import InputError
from kansho.io import baselines as bl

# shared/ beside the checkout (CI, the main clone); a worktree nested deeper finds it further up
REAL = next((p / "shared" / "data" / "real" / "mexico_city_s1" for p in Path(__file__).resolve().parents[1:4]
             if (p / "shared" / "data" / "real" / "mexico_city_s1").is_dir()), Path("shared-not-found"))
needs_real = pytest.mark.skipif(not (REAL / "geometry").is_dir(), reason="shared/data/real/mexico_city_s1 not present")
PAIR = "20180106-20180130_VV_8rlks"


@needs_real
def test_base_par_vector_and_bperp_table_centre() -> None:
    t, c, n = bl.read_base_par(REAL / "geometry" / f"{PAIR}_base.par")
    assert (t, c, n) == (0.0, 40.1010426, 4.5164084)
    centre = bl.read_bperp_par(REAL / "geometry" / f"{PAIR}_bperp.par")
    assert 30.1713 < centre < 30.2803  # between the table's rows that bracket the centre
    assert centre == pytest.approx(30.19, abs=0.01)


@needs_real
def test_base_par_with_header_look_angle_matches_base_perp(tmp_path: Path) -> None:
    """B⊥ from base.par + the look angle of the mli.par equals GAMMA's own base_perp to 1 cm on every pair."""
    for f in (REAL / "geometry").glob("*_base.par"):
        shutil.copy(f, tmp_path)
    shutil.copy(REAL / "headers" / "r20180106_VV_8rlks_mli.par", tmp_path)
    from_base = bl.gamma_pair_bperp([tmp_path])
    from_table = bl.gamma_pair_bperp([REAL / "geometry"])
    assert len(from_base) == len(from_table) == 30
    for k, v in from_table.items():
        assert from_base[k] == pytest.approx(v, abs=0.015), k


@needs_real
def test_per_epoch_bperp_of_the_mexico_stack() -> None:
    from kansho.io.inputs import discover_inputs

    inp = discover_inputs(REAL / "geotiffs")
    bp = inp.bperp
    assert len(bp) == inp.n_epochs == 13
    assert bp[20180106] == pytest.approx(0.0, abs=1e-9)
    assert bp[20180130] == pytest.approx(30.24, abs=0.02)  # the first pair's 30.19 + least-squares misfit
    assert bp[20180412] == pytest.approx(-74.93, abs=0.02)
    assert bp[20180705] == pytest.approx(54.27, abs=0.02)
    assert max(bp.values()) - min(bp.values()) > 100  # the network spans > 100 m of B⊥
    assert "GAMMA" in str(inp.metadata["baselines_file"])


def test_look_angle_law_of_cosines() -> None:
    hdr = {"center_range_slc": "878314.5356 m", "sar_to_earth_center": "7073899.1954 m",
           "earth_radius_below_sensor": "6375868.9414 m"}
    assert bl.look_angle_deg(hdr) == pytest.approx(35.154, abs=1e-3)  # Sentinel-1 IW2 mid-swath
    with pytest.raises(InputError, match="center_range_slc"):
        bl.look_angle_deg({}, Path("x.par"))


def test_bad_files_are_refused_naming_the_file(tmp_path: Path) -> None:
    p = tmp_path / "20200101-20200113_base.par"
    p.write_text("unwrap_phase_constant: 0.0\n")
    with pytest.raises(InputError, match=r"20200101-20200113_base\.par.*TCN"):
        bl.read_base_par(p)
    q = tmp_path / "20200101-20200113_bperp.par"
    q.write_text("*** header only ***\n")
    with pytest.raises(InputError, match=r"bperp\.par.*base_perp"):
        bl.read_bperp_par(q)


def test_synthetic_network_to_epochs(tmp_path: Path) -> None:
    """Per-pair B⊥ from base.par files → per-epoch values (first epoch 0) for a consistent network."""
    truth = {20200101: 0.0, 20200113: 40.0, 20200125: -25.0, 20200206: 10.0}
    look = 35.0
    rs, re_ = 7.07e6, 6.37e6
    # a centre range giving exactly the look angle: R from rs, re and θ (law of cosines solved for R)
    th = math.radians(look)
    r = rs * math.cos(th) - math.sqrt(re_ ** 2 - (rs * math.sin(th)) ** 2)
    (tmp_path / "r20200101.mli.par").write_text(
        f"center_range_slc: {r:.4f} m\nsar_to_earth_center: {rs} m\nearth_radius_below_sensor: {re_} m\n")
    dates = sorted(truth)
    for a, b in zip(dates, dates[1:] + dates[:1], strict=True):
        a, b = min(a, b), max(a, b)
        bp = truth[b] - truth[a]
        # choose N = 0: B⊥ = C cos θ
        (tmp_path / f"{a}_{b}.base").write_text(f"initial_baseline(TCN):  0.0  {bp / math.cos(th):.6f}  0.0  m m m\n")
    per = bl.gamma_bperp_epochs([tmp_path], dates)
    assert per == pytest.approx(truth, abs=1e-4)


@needs_real
def test_inputs_read_base_par_beside_the_pairs_and_a_baselines_file_wins(tmp_path: Path) -> None:
    """A GAMMA stack laid out as the bundled one (pairs + headers/*.par) with its base.par files in
    geometry/ gets B⊥ from them; a ``baselines`` file (LiCSAR / LiCSBAS) beside the pairs takes precedence."""
    from kansho.io.inputs import discover_inputs

    data = tmp_path / "stack"
    (data / "headers").mkdir(parents=True)
    (data / "geometry").mkdir()
    pairs = ["20180106-20180130", "20180130-20180307", "20180106-20180319", "20180307-20180319"]
    for p in pairs:
        for kind in ("eqa_unw", "flat_eqa_cc"):
            shutil.copy(REAL / "geotiffs" / f"cropA_{p}_VV_8rlks_{kind}.tif", data)
        shutil.copy(REAL / "geometry" / f"{p}_VV_8rlks_base.par", data / "geometry")
    shutil.copy(REAL / "headers" / "r20180106_VV_8rlks_mli.par", data / "headers")
    bp = discover_inputs(data).bperp
    assert sorted(bp) == [20180106, 20180130, 20180307, 20180319]
    # the pairs' baselines close the loop 0106-0130-0307-0319 to 0.50 m (30.19 - 29.64 + 3.19 vs 3.24):
    # least squares spreads that over the four pairs
    assert bp[20180130] - bp[20180106] == pytest.approx(30.19, abs=0.2)
    assert bp[20180319] - bp[20180106] == pytest.approx(3.24, abs=0.2)
    (data / "baselines").write_text("20180106 20180106 0.0 0\n20180106 20180130 11.0 24\n"
                                    "20180106 20180307 12.0 60\n20180106 20180319 13.0 72\n")
    assert discover_inputs(data).bperp == {20180106: 0.0, 20180130: 11.0, 20180307: 12.0, 20180319: 13.0}
