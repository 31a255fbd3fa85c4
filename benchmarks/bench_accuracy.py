"""Accuracy harness: Kansho against simulated truth, the perfect-inversion floor and LiCSBAS.

    python benchmarks/bench_accuracy.py [--scenarios a,b] [--no-licsbas] [--jobs N] [--write-only]

For each scenario of ``benchmarks/accuracy_scenarios.py``: simulate the frame (cached under
``benchmarks/_cache/<name>/sim``), run ``kansho ts`` with its defaults and with ``--preset licsbas``
(always afresh: Kansho changes), run LiCSBAS 02, 11-16 when it is installed (cached: it does not),
and score each against the truth (``benchmarks/accuracy_score.py``); then the real Mexico City
stack against an independent least-squares solution. Figures go to
``benchmarks/accuracy_results.json`` (merged: a subset of scenarios updates only those);
``docs/accuracy.md`` and ``docs/img/accuracy_*.png`` are rebuilt from it (``--write-only``: only that).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accuracy_report import write_report  # noqa: E402
from accuracy_runs import (  # noqa: E402
    _stamp,
    kansho_solution,
    licsbas_available,
    mexico_check,
    run_kansho,
    run_licsbas,
    simulate,
)
from accuracy_scenarios import BY_NAME, SCENARIOS, Scenario  # noqa: E402
from accuracy_score import score  # noqa: E402

log = logging.getLogger("bench_accuracy")
CACHE = HERE / "_cache"
RESULTS = HERE / "accuracy_results.json"


def run_scenario(scn: Scenario, cache: Path, scale: float, licsbas: bool, reuse: bool,
                 figures: bool = False) -> dict[str, Any]:
    """Simulate, run every variant, score; returns {variant: figures} plus the scenario's facts."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    geoc, truth = simulate(scn, cache, scale)
    out: dict[str, Any] = {"what": scn.what, "band": scn.band, "shape": list(truth.water.shape),
                           "n_epoch": truth.n_epoch, "n_pair": len(truth.pairs), "runs": {}}
    for variant, preset in (("kansho", None), ("kansho_licsbas_preset", "licsbas")):
        folder = cache / scn.name / variant
        t0 = time.perf_counter()
        if reuse and (folder / "work" / "state.json").is_file():
            sol, secs = kansho_solution(folder), float("nan")
        else:
            sol, secs = run_kansho(geoc, folder, scn.band, preset, figures)
        fig = score(sol, truth)
        fig["seconds"] = secs
        out["runs"][variant] = fig
        log.info("%s %s: vel %.2f mm/yr (floor %.2f), ts %.2f mm, kept %.0f %% (%.0f s)", scn.name, variant,
                 fig["vel_rmse"], fig["floor_vel_rmse"], fig["ts_rmse"], 100 * fig["coverage"],
                 time.perf_counter() - t0)
    if licsbas:
        sim_key = json.loads((geoc.parent / "stamp.json").read_text())["key"]
        try:
            sol, secs = run_licsbas(geoc, cache / scn.name / "licsbas", scn.band, _stamp([sim_key, scn.band]))
        except RuntimeError as exc:
            log.error("%s: %s", scn.name, exc)
            out["runs"]["licsbas_error"] = str(exc)
        else:
            fig = score(sol, truth)
            fig["seconds"] = secs
            out["runs"]["licsbas"] = fig
            log.info("%s licsbas: vel %.2f mm/yr, ts %.2f mm, kept %.0f %%", scn.name, fig["vel_rmse"],
                     fig["ts_rmse"], 100 * fig["coverage"])
    return out


def _git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default=None, help="comma-separated names (default: all); 'none' = only real")
    ap.add_argument("--no-licsbas", action="store_true", help="do not run LiCSBAS (cached results are kept)")
    ap.add_argument("--no-real", action="store_true", help="skip the real Mexico City stack")
    ap.add_argument("--jobs", type=int, default=1, help="scenarios run at once (processes)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every scenario's frame side")
    ap.add_argument("--reuse", action="store_true", help="score existing Kansho runs instead of re-running")
    ap.add_argument("--figures", action="store_true", help="let Kansho's runs draw their plots and report")
    ap.add_argument("--write-only", action="store_true", help="only rebuild docs/accuracy.md from the JSON")
    ap.add_argument("--cache", type=Path, default=CACHE)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    results: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"scenarios": {}}
    if not args.write_only:
        names = [s.name for s in SCENARIOS] if args.scenarios is None else [
            n for n in args.scenarios.split(",") if n and n != "none"]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            ap.error(f"unknown scenarios {unknown}; known: {', '.join(BY_NAME)}")
        licsbas = not args.no_licsbas and licsbas_available()
        if not args.no_licsbas and not licsbas:
            log.warning("LiCSBAS is not installed (no %s): its columns stay as cached", "env.sh")
        todo = [BY_NAME[n] for n in names]
        with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futs = {s.name: pool.submit(run_scenario, s, args.cache, args.scale, licsbas, args.reuse,
                                        args.figures) for s in todo}
            for name, fut in futs.items():
                new = fut.result()
                old = results["scenarios"].get(name, {}).get("runs", {})
                if "licsbas" not in new["runs"] and "licsbas" in old:
                    new["runs"]["licsbas"] = old["licsbas"]  # kept from an earlier run of the same frame
                for v, fig in new["runs"].items():  # --reuse scores earlier runs: keep their times
                    if isinstance(fig, dict) and fig.get("seconds") != fig.get("seconds") and v in old:
                        fig["seconds"] = old[v].get("seconds")
                results["scenarios"][name] = new
        if not args.no_real:
            from kansho.demo import bundled_real_stack

            results["real_mexico"] = mexico_check(bundled_real_stack(), args.cache / "real_mexico")
        results["measured"] = {"date": dt.date.today().isoformat(), "git": _git_rev(),
                               "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                               "python": platform.python_version(), "scale": args.scale}
        RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True, default=float) + "\n")
    write_report(results, HERE.parent / "docs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
