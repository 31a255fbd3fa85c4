"""``kansho baseline table|plot|stack``: the coherence and baseline planner (seed 001) on the command line."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from kansho._files import write_text_atomic as _write_text_atomic
from kansho.errors import ConfigError

log = logging.getLogger(__name__)

_TABLE_ROWS = [
    ("critical baseline B_c (m)", "critical_baseline_m"),
    ("DEM (γ≥0.45): B⊥ (m)", "dem_bperp_m"),
    ("DEM: B_x = B⊥/cos θ (m)", "dem_bx_m"),
    ("DEM: tolerance ±B_x/2 (m)", "dem_tolerance_m"),
    ("DEM: height error std (m)", "dem_height_std_m"),
    ("deformation (γ≥0.40): B⊥ (m)", "def_bperp_m"),
    ("deformation: B_x (m)", "def_bx_m"),
    ("deformation: tolerance ±B_x/2 (m)", "def_tolerance_m"),
]


def register(sub: Any, fmt: type) -> None:
    p = sub.add_parser("baseline", help="coherence and baseline planner: seed-001 tables, Fig. 5 curves, "
                       "network suggestion for a stack", formatter_class=fmt)
    bsub = p.add_subparsers(dest="baseline_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])

    t = bsub.add_parser("table", help="Tables 2 and 3 of seed 001 recomputed from its Table 1 "
                        "(and the same budget for other sensors)", formatter_class=fmt)
    t.add_argument("--json", action="store_true", help="machine-readable output")
    t.add_argument("--jers1-range", choices=["altitude", "slant"], default="altitude",
                   help="distance in the JERS-1 critical baseline: 'altitude' reproduces the document, "
                        "'slant' is self-consistent")
    t.add_argument("--sensor", action="append", default=[], metavar="NAME",
                   help="also print the budget of this preset/user sensor (repeatable)")
    t.add_argument("--sensor-file", type=Path, default=None, help="YAML/TOML file of user sensors")
    t.add_argument("--gamma-other", type=float, default=0.5,
                   help="γ_thermal·γ_temporal for --sensor budgets (seed eq. 10-1)")
    t.set_defaults(func=_run_table)

    pl = bsub.add_parser("plot", help="write the Fig. 5 curves and the orbit-tube figure as PNGs", formatter_class=fmt)
    pl.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    pl.set_defaults(func=_run_plot)

    s = bsub.add_parser("stack", help="predict each pair's coherence for a stack and suggest a connected network",
                        formatter_class=fmt)
    s.add_argument("baselines", type=Path, help="LiCSAR 'baselines' file or a per-pair table "
                   "(LiCSBAS info/11ifg_stats.txt: date1_date2 bperp dt unw_cov coh_av)")
    s.add_argument("--sensor", default="sentinel1_iw", help="sensor preset or a name from --sensor-file")
    s.add_argument("--sensor-file", type=Path, default=None, help="YAML/TOML file of user sensors")
    s.add_argument("--landcover", default="default", help="temporal-decorrelation preset")
    s.add_argument("--min-coh", type=float, default=0.4, help="pairs predicted at or above this are eligible")
    s.add_argument("--max-per-epoch", type=int, default=4, help="at most this many pairs per epoch")
    s.add_argument("--no-fit", action="store_true",
                   help="do not fit the temporal model to the table's observed coherence (use the preset)")
    s.add_argument("--existing-only", action="store_true", help="choose only among the table's pairs")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.add_argument("-o", "--out", type=Path, default=None,
                   help="folder for network.txt, predicted_vs_observed.txt and network.png")
    s.set_defaults(func=_run_stack)


def _sensor(name: str, sensor_file: Path | None) -> Any:
    from kansho.planning import get_sensor, load_sensors

    if sensor_file is not None:
        user = load_sensors(sensor_file)
        if name in user:
            return user[name]
    return get_sensor(name)


def _fmt(v: float) -> str:
    return "n/a" if not math.isfinite(v) else f"{v:,.0f}" if abs(v) >= 20 else f"{v:.1f}"


def _run_table(args: argparse.Namespace) -> int:
    from kansho.planning import DOCUMENT_TABLE2, budget_for_sensor, document_tables

    tables = document_tables(jers1_range=args.jers1_range)
    extra = {name: budget_for_sensor(_sensor(name, args.sensor_file), gamma_other=args.gamma_other)
             for name in args.sensor}
    if args.json:
        out = {"document": {k: {"computed": b.to_dict(), "published": DOCUMENT_TABLE2[k]} for k, b in tables.items()},
               "table3": {k: {"dem_tolerance_m": b.dem_tolerance_m, "deformation_tolerance_m": b.def_tolerance_m}
                          for k, b in tables.items() if k != "jers1"},
               "sensors": {k: b.to_dict() for k, b in extra.items()}}
        sys.stdout.write(json.dumps(out, indent=1) + "\n")
        return 0
    names = list(tables)
    w = 36
    lines = ["Table 2 (seed 001) recomputed from Table 1 — computed [published]", "",
             f"{'':{w}}" + "".join(f"{n:>22}" for n in names)]
    for label, key in _TABLE_ROWS:
        cells = "".join(f"{_fmt(getattr(tables[n], key)) + ' [' + _fmt(DOCUMENT_TABLE2[n][key]) + ']':>22}"
                        for n in names)
        lines.append(f"{label:{w}}{cells}")
    lines += ["", "Table 3: orbit-keeping requirement (±B_x/2)", f"{'bandwidth':12}{'DEM':>22}{'deformation':>22}"]
    for n, bw in (("palsar28", "28 MHz"), ("palsar14", "14 MHz")):
        b, d = tables[n], DOCUMENT_TABLE2[n]
        lines.append(f"{bw:12}{'±' + _fmt(b.dem_tolerance_m) + ' [±' + _fmt(d['dem_tolerance_m']) + ']':>22}"
                     f"{'±' + _fmt(b.def_tolerance_m) + ' [±' + _fmt(d['def_tolerance_m']) + ']':>22}")
    lines.append("")
    lines.append(f"JERS-1 critical baseline from the {args.jers1_range} "
                 f"({tables['jers1'].range_for_critical_m / 1000:.0f} km); see docs/planning.md.")
    for name, b in extra.items():
        lines += ["", (f"{name}: B_c {_fmt(b.critical_baseline_m)} m; γ_other {b.gamma_other:.2f}; "
                       f"DEM B⊥ {_fmt(b.dem_bperp_m)} m (±{_fmt(b.dem_tolerance_m)} m, σz {b.dem_height_std_m:.1f} m); "
                       f"deformation B⊥ {_fmt(b.def_bperp_m)} m (±{_fmt(b.def_tolerance_m)} m)")]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _run_plot(args: argparse.Namespace) -> int:
    from kansho.planning.plots import plot_fig5, plot_orbit_tube

    out: Path = args.out
    a = plot_fig5(out / "fig5_height_error_coherence.png")
    b = plot_orbit_tube(out / "orbit_tube.png")
    sys.stdout.write(f"{a}\n{b}\n")
    return 0


def _run_stack(args: argparse.Namespace) -> int:
    import numpy as np

    from kansho.network import connected_components
    from kansho.planning import (
        fit_temporal_model,
        predicted_vs_observed,
        read_stack_baselines,
        suggest_network_detail,
    )

    if not 0.0 <= args.min_coh <= 1.0:
        raise ConfigError(f"--min-coh must be in [0, 1], got {args.min_coh}")
    sensor = _sensor(args.sensor, args.sensor_file)
    sb = read_stack_baselines(args.baselines)
    tbl = sb.pairs
    params = None
    fit = None
    comparison = None
    if tbl is not None and tbl.usable.sum() >= 4 and not args.no_fit:
        u = tbl.usable
        fit = fit_temporal_model(tbl.dt_days[u], tbl.bperp_m[u], tbl.coherence[u], sensor, landcover=args.landcover)
        params = fit.params
    if tbl is not None and np.isfinite(tbl.coherence).any():
        obs = np.where(tbl.usable, tbl.coherence, np.nan)
        comparison = predicted_vs_observed(tbl.date1, tbl.date2, tbl.bperp_m, obs, sensor,
                                           landcover=args.landcover, params=params)
    candidates = list(zip(tbl.date1.tolist(), tbl.date2.tolist(), strict=True)) \
        if (args.existing_only and tbl is not None) else None
    net = suggest_network_detail(sb.epochs, sb.bperp_m, sensor, min_coh=args.min_coh,
                                 max_per_epoch=args.max_per_epoch, landcover=args.landcover, params=params,
                                 candidates=candidates)
    n_comp = int(np.unique(connected_components(net.pairs, sb.epochs.size)).size)
    summary: dict[str, Any] = {
        "file": str(args.baselines), "sensor": sensor.name, "n_epochs": int(sb.epochs.size),
        "n_pairs_in_file": None if tbl is None else len(tbl),
        "fit": None if fit is None else fit.to_dict(),
        "predicted_vs_observed": None if comparison is None else
        {"r2": comparison.r2, "bias": comparison.bias, "rmse": comparison.rmse,
         "n": int(np.isfinite(comparison.observed).sum())},
        "network": {"n_pairs": int(net.pairs.shape[0]), "connected": n_comp == 1, "n_components": n_comp,
                    "n_bridges_below_min_coh": net.n_bridges, "min_coh": args.min_coh,
                    "max_per_epoch": args.max_per_epoch},
        "pairs": [{"date1": a, "date2": b, "predicted_coherence": float(c)}
                  for (a, b), c in zip(net.date_pairs, net.coherence, strict=True)],
    }
    if args.out is not None:
        _write_text_atomic(args.out / "network.txt", "# date1_date2 predicted_coherence\n" + "".join(
            f"{p['date1']}_{p['date2']} {p['predicted_coherence']:.3f}\n" for p in summary["pairs"]))
        if comparison is not None:
            _write_text_atomic(args.out / "predicted_vs_observed.txt", comparison.to_text())
        from kansho.planning.plots import plot_network

        plot_network(args.out / "network.png", sb.epochs, sb.bperp_m, net.pairs, net.coherence,
                     title=f"suggested network: {net.pairs.shape[0]} pairs, min_coh {args.min_coh}")
    if args.json:
        sys.stdout.write(json.dumps(summary, indent=1) + "\n")
        return 0
    lines = [f"{summary['file']}: {summary['n_epochs']} epochs, sensor {sensor.name}"]
    if fit is not None:
        lines.append(f"temporal fit to {fit.n_pairs} observed pairs: gamma0={fit.gamma0:.3f}±{fit.gamma0_se:.3f} "
                     f"gamma_inf={fit.gamma_inf:.3f}±{fit.gamma_inf_se:.3f} "
                     f"tau={fit.tau_days:.1f}±{fit.tau_days_se:.1f} d "
                     f"R2={fit.r2:.3f} rmse={fit.rmse:.3f}")
    elif comparison is not None:
        lines.append(f"preset model vs observed: R2={comparison.r2:.3f} bias={comparison.bias:+.3f} "
                     f"rmse={comparison.rmse:.3f}")
    nw = summary["network"]
    lines.append(f"suggested network: {nw['n_pairs']} pairs, connected={nw['connected']}, "
                 f"{nw['n_bridges_below_min_coh']} bridge pair(s) below min_coh={args.min_coh}")
    lines += [f"{p['date1']}_{p['date2']} {p['predicted_coherence']:.3f}" for p in summary["pairs"]]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if nw["connected"] else 1
