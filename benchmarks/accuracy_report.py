"""``docs/accuracy.md`` and ``docs/img/accuracy_*.png`` from ``benchmarks/accuracy_results.json``:
the figures of every run, the criteria of issue 17 judged for Kansho's default run, and plots."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

VARIANTS = (("floor", "perfect inversion"), ("kansho", "Kansho"),
            ("kansho_licsbas_preset", "Kansho --preset licsbas"), ("licsbas", "LiCSBAS"))
CRITERIA = (
    ("vel", "velocity RMSE ≤ max(0.8 × L, (L + floor)/2)"),
    ("ts", "time-series RMSE ≤ max(0.9 × L, (L + floor)/2)"),
    ("filt", "filtered series RMSE ≤ 0.8 × L's filtered"),
    ("large", "every large unwrapping error dropped or corrected"),
    ("small", "≥ half the small errors dropped or corrected"),
    ("clean", "no clean pair dropped"),
    ("mask", "mask keeps ≥ 60 % of land if unmasked velocity RMSE < 3 mm/yr; never empty"),
)


def _f(v: Any, nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{nd}f}"


def judge(runs: dict[str, Any]) -> tuple[dict[str, bool | None], str]:
    """Pass/fail of each criterion for Kansho's default run against LiCSBAS (or, without a LiCSBAS
    run, against ``--preset licsbas``); returns the verdicts and the name of the yardstick."""
    k = runs["kansho"]
    lname = "licsbas" if "licsbas" in runs else "kansho_licsbas_preset"
    lb = runs[lname]
    # the floor depends on the reference: the lower of the two runs' floors (the better reference found)
    fv, fts = min(k["floor_vel_rmse"], lb["floor_vel_rmse"]), min(k["floor_ts_rmse"], lb["floor_ts_rmse"])
    out: dict[str, bool | None] = {
        "vel": k["vel_rmse"] <= max(0.8 * lb["vel_rmse"], 0.5 * (lb["vel_rmse"] + fv)),
        "ts": k["ts_rmse"] <= max(0.9 * lb["ts_rmse"], 0.5 * (lb["ts_rmse"] + fts)),
        "filt": k["ts_rmse_filt"] <= 0.8 * lb["ts_rmse_filt"],
        "large": k["large_missed"] == 0,
        "small": (k["small_dropped"] + k["small_corrected"]) >= 0.5 * k["small_injected"]
        if k["small_injected"] else None,
        "clean": k["clean_dropped"] == 0,
        "mask": k["coverage"] > 0 and (k["vel_rmse_all"] >= 3.0 or k["coverage"] >= 0.6),
    }
    for key in ("vel", "ts", "filt"):  # a NaN figure (empty mask) is a failure
        vals = [k.get(f"{key}_rmse"), lb.get(f"{key}_rmse")] if key != "filt" else [k["ts_rmse_filt"]]
        if any(v is None or not math.isfinite(v) for v in vals):
            out[key] = False
    return out, lname


def _row(name: str, label: str, r: dict[str, Any]) -> str:
    if name == "floor":
        return f"| {label} | {_f(r['floor_vel_rmse'])} | | {_f(r['floor_ts_rmse'])} | | | | | | | |"
    large = f"{r['large_dropped']} / {r['large_corrected']} / {r['large_missed']} of {r['large_injected']}"
    small = f"{r['small_dropped'] + r['small_corrected']} of {r['small_injected']}"
    return (f"| {label} | {_f(r['vel_rmse'])} | {_f(r['vel_rmse_all'])} | {_f(r['ts_rmse'])} | "
            f"{_f(r['ts_rmse_filt'])} | {_f(r['vel_rmse_filt'])} | {100 * r['coverage']:.0f} % | {large} | {small} | "
            f"{r['clean_dropped']} | {_f(r.get('seconds'), 0)} |")


def _scenario_md(name: str, s: dict[str, Any]) -> list[str]:
    runs = s["runs"]
    lines = [f"### {name}", "", f"{s['what']}; {s['shape'][0]}×{s['shape'][1]} px, {s['n_epoch']} epochs, "
             f"{s['n_pair']} pairs, band {s['band']}.", "",
             "| run | vel RMSE kept (mm/yr) | vel RMSE all solved | TS RMSE (mm) | filtered TS RMSE | filtered vel RMSE"
             " | land kept | large errors dropped / corrected / missed | small errors handled | clean pairs dropped"
             " | time (s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, label in VARIANTS:
        src = runs["kansho"] if key == "floor" else runs.get(key)
        if src is not None:
            lines.append(_row(key, label + (" (Kansho's reference)" if key == "floor" else ""), src))
    if "licsbas" in runs:
        lines.append(_row("floor", "perfect inversion (LiCSBAS's reference)", runs["licsbas"]))
    bf = runs["kansho"].get("bridge_vel_rmse") if "kansho" in runs else None
    if bf is not None and abs(bf - runs["kansho"]["floor_vel_rmse"]) > 1e-9:
        lines.append(f"| perfect inversion bridged over the network's gaps (Kansho's reference and pixels) | {_f(bf)} "
                     "| | | | | | | | | |")
    if "licsbas_error" in runs:
        lines.append(f"\nLiCSBAS failed: {runs['licsbas_error']}")
    lines.append("")
    return lines


def _bridge_table(scen: dict[str, Any], verdicts: dict[str, tuple[dict[str, bool | None], str]]) -> list[str]:
    """The gapped scenarios' floors, perfect-bridge bounds, Kansho, L and the criteria's targets."""
    out: list[str] = []
    gapped = [(n, s["runs"]["kansho"]) for n, s in scen.items()
              if "kansho" in s["runs"] and "bridge_vel_rmse" in s["runs"]["kansho"]
              and abs(s["runs"]["kansho"]["bridge_vel_rmse"] - s["runs"]["kansho"]["floor_vel_rmse"]) > 1e-9]
    if not gapped:
        return out
    out += ["Where the network has gaps, no estimator that bridges each pixel on its own can reach the floor "
            "above: it sees the series in pieces. *Perfect bridge*: the perfect inversion bridged across the "
            "same gaps by a line or a line + annual term, whichever is better at each pixel *knowing the truth* "
            "(`bridge_vel_rmse`, `bridge_ts_rmse` in `accuracy_score.py`): a lower bound for any per-pixel "
            "bridge on that pixel set, beside the targets the criteria set. Kansho's default is not a per-pixel "
            "bridge: after the bridge, step 1-3 ties the segments after each network gap to the spatial pattern "
            "the stable reference set shows across it (`invert.gap_tie`, `kansho.gaptie`), which can go below "
            "this bound; `--preset licsbas` and `invert.gap_tie: off` bridge each pixel alone.", "",
            "| scenario | vel floor (continuous) | vel perfect bridge (line / annual / best) | vel Kansho | vel L "
            "| vel target | TS floor | TS perfect bridge (best) | TS Kansho | TS L | TS target |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, k in gapped:
        lb = scen[n]["runs"][verdicts[n][1]]
        fv = min(k["floor_vel_rmse"], lb["floor_vel_rmse"])
        fts = min(k["floor_ts_rmse"], lb["floor_ts_rmse"])
        target = max(0.8 * lb["vel_rmse"], 0.5 * (lb["vel_rmse"] + fv))
        target_ts = max(0.9 * lb["ts_rmse"], 0.5 * (lb["ts_rmse"] + fts))
        pb = f"{_f(k.get('bridge_vel_line'))} / {_f(k.get('bridge_vel_annual'))} / {_f(k['bridge_vel_rmse'])}"
        out.append(f"| {n} | {_f(k['floor_vel_rmse'])} | {pb} | {_f(k['vel_rmse'])} "
                   f"| {_f(lb['vel_rmse'])} | {_f(target)} | {_f(k['floor_ts_rmse'])} "
                   f"| {_f(k.get('bridge_ts_rmse'))} | {_f(k['ts_rmse'])} | {_f(lb['ts_rmse'])} | {_f(target_ts)} |")
    return [*out, ""]


def _unmet(scen: dict[str, Any], verdicts: dict[str, tuple[dict[str, bool | None], str]]) -> list[str]:
    """One line per failed criterion with the figures that fail it."""
    out = []
    for n, (v, lname) in verdicts.items():
        k, lb = scen[n]["runs"]["kansho"], scen[n]["runs"][lname]
        fv = min(k["floor_vel_rmse"], lb["floor_vel_rmse"])
        fts = min(k["floor_ts_rmse"], lb["floor_ts_rmse"])
        why = {
            "vel": f"velocity RMSE {_f(k['vel_rmse'])} mm/yr, target "
                   f"{_f(max(0.8 * lb['vel_rmse'], 0.5 * (lb['vel_rmse'] + fv)))}",
            "ts": f"time-series RMSE {_f(k['ts_rmse'])} mm, target "
                  f"{_f(max(0.9 * lb['ts_rmse'], 0.5 * (lb['ts_rmse'] + fts)))}",
            "filt": f"filtered RMSE {_f(k['ts_rmse_filt'])} mm, target {_f(0.8 * lb['ts_rmse_filt'])}",
            "large": f"{k['large_missed']} large errors missed",
            "small": f"{k['small_dropped'] + k['small_corrected']} of {k['small_injected']} small errors found",
            "clean": f"{k['clean_dropped']} clean pairs dropped",
            "mask": f"the mask keeps {100 * k['coverage']:.0f} % of land with an unmasked velocity RMSE of "
                    f"{_f(k['vel_rmse_all'])} mm/yr; {100 * k['coverage_solved']:.0f} % of land is solved at all "
                    f"(the rest has too few valid pairs: invert.min_pairs_factor)",
        }
        out += [f"* **{n} fails `{c}`**: {why[c]}." for c, _ in CRITERIA if v[c] is False]
        if v["mask"] and k["coverage"] < 0.6:  # passed on the unmasked error alone: say so
            out.append(f"* {n} passes `mask` only because its unmasked velocity RMSE is {_f(k['vel_rmse_all'])} "
                       f"mm/yr (≥ 3): {100 * k['coverage_solved']:.0f} % of land is solved, the mask keeps "
                       f"{100 * k['coverage']:.0f} % (RMSE {_f(k['vel_rmse'])} mm/yr there).")
    return [*out, ""] if out else []


def write_report(results: dict[str, Any], docs: Path) -> Path:
    """Write ``docs/accuracy.md`` and its figures; returns the page's path."""
    from accuracy_scenarios import SCENARIOS

    order = [s.name for s in SCENARIOS]
    got = results.get("scenarios", {})
    scen = {n: got[n] for n in sorted(got, key=lambda n: (order.index(n) if n in order else len(order), n))}
    meas = results.get("measured", {})
    lines = ["# Accuracy against truth, the perfect inversion and LiCSBAS", "",
             "Written by `python benchmarks/bench_accuracy.py` (figures in `benchmarks/accuracy_results.json`; "
             "scoring in `benchmarks/accuracy_score.py`, scenarios in `benchmarks/accuracy_scenarios.py`). "
             f"Measured {meas.get('date', '?')} at commit {meas.get('git', '?')} ({meas.get('machine', '?')}).", "",
             "Every run is scored on its own reference area and first epoch, over the pixels its mask keeps. "
             "*Perfect inversion*: the true series plus the same atmosphere and DEM-error term (what an "
             "error-free inversion of noise-free phase gives) on a run's reference and pixels; its time-series "
             "error is the atmosphere alone. It depends on the reference (the atmosphere there moves every "
             "pixel): the tables give it on Kansho's, the criteria use the lower of Kansho's and LiCSBAS's. "
             "Unwrapping errors: *dropped* = pair not used; *corrected* = the "
             "error's share in the solution is under half of what an uncorrected error leaves there; *missed* "
             "otherwise. Small errors are the connected ±2π patches of one pair. Kansho weights each epoch by "
             "the noise it measures on the frame (`invert.epoch_weight: noise`, `info/13epoch_noise.txt`), the "
             "perfect inversion fits its line with equal weights: Kansho's velocity can go below that floor.", "",
             "Runs: Kansho with its defaults (`--band L` on the L-band frame) and with `--preset licsbas`, without "
             "figures or report; LiCSBAS (GPLv3, run as a separate program, never copied) steps 02, 11-16 with its "
             "defaults (its L-band thresholds on the L-band frame), one process, its quick-look PNGs from step 1-2 "
             "on replaced by 1-pixel files (no number depends on them). LiCSBAS re-references its series to one "
             "stable pixel (step 1-3) and its filtered series to another (step 1-6): each is scored on its own.", ""]
    verdicts: dict[str, tuple[dict[str, bool | None], str]] = {
        n: judge(s["runs"]) for n, s in scen.items() if "kansho" in s["runs"]}
    if verdicts:
        lines += ["## Criteria of issue 17 (Kansho default)", "",
                  "L = LiCSBAS (or, marked *, Kansho `--preset licsbas` where LiCSBAS did not run).", "",
                  "| scenario | " + " | ".join(c for c, _ in CRITERIA) + " |",
                  "|---|" + "---|" * len(CRITERIA)]
        for n, (v, lname) in verdicts.items():
            mark = "" if lname == "licsbas" else " *"
            cells = ["–" if v[c] is None else ("pass" if v[c] else "**fail**") for c, _ in CRITERIA]
            lines.append(f"| {n}{mark} | " + " | ".join(cells) + " |")
        lines += [""] + [f"* `{c}`: {text}" for c, text in CRITERIA] + [""]
        lines += _unmet(scen, verdicts)
        lines += _bridge_table(scen, verdicts)
        lines += ["![pass/fail of each criterion](img/accuracy_criteria.png)", "",
                  "![velocity RMSE](img/accuracy_vel.png)", "", "![time-series RMSE](img/accuracy_ts.png)", ""]
    lines += ["## Per scenario", ""]
    for n, s in scen.items():
        lines += _scenario_md(n, s)
    real = results.get("real_mexico")
    if real:
        lines += ["## Real stack: Mexico City (Sentinel-1, bundled)", "",
                  "Kansho's default chain against an independent least-squares solution (per-pixel normal "
                  "equations of the same used pairs, weighted by coherence as the chain's default is, solved "
                  "with `numpy.linalg.solve`), each pair put on the run's reference, on the pixels where every "
                  "used pair is valid:", "",
                  f"* {real['pixels_compared']} pixels compared, {real['pairs_used']} pairs used"
                  f"{' (network in several parts)' if real['rank_deficient'] else ''};",
                  f"* |difference|: median {real['median_abs_mm']:.2g} mm, "
                  f"99th percentile {real['p99_abs_mm']:.2g} mm, "
                  f"max {real['max_abs_mm']:.2g} mm; {100 * real['agree_fraction']:.2f} % of the pixels within 1 mm "
                  f"at every epoch ({real['pixels_differing']} differ: corrected or disagreeing);",
                  f"* pairs dropped by the chain: {', '.join(real['pairs_dropped']) or 'none'};",
                  *([f"* corrections: {real['pixel_pairs_fixed_12']} pixel-pairs corrected or nulled by step 1-2 "
                     f"(`info/12corrected_pairs.txt`), {real['pixel_pairs_fixed_13']} by the residual check of 1-3 "
                     f"(`info/13corrected_pairs.txt`), {real['pixels_corrected']} pixels in all "
                     f"(`work` array `unw_fix`, `results/n_resid_fix.tif`); pixels differing from the independent "
                     f"solution that no list names: {real['differing_not_listed']}."]
                    if "pixels_corrected" in real else []), ""]
    docs.mkdir(parents=True, exist_ok=True)
    if scen:
        _plots(scen, docs / "img")
    if verdicts:
        _criteria_plot({n: v for n, (v, _) in verdicts.items()}, docs / "img" / "accuracy_criteria.png")
    page = docs / "accuracy.md"
    page.write_text("\n".join(lines) + "\n")
    return page


def _plots(scen: dict[str, Any], img: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    img.mkdir(parents=True, exist_ok=True)
    names = list(scen)
    x = np.arange(len(names))
    for fname, key, fkey, title, unit in (
            ("accuracy_vel.png", "vel_rmse", "floor_vel_rmse", "velocity RMSE (kept pixels)", "mm/yr"),
            ("accuracy_ts.png", "ts_rmse", "floor_ts_rmse", "time-series RMSE (kept pixels)", "mm")):
        fig, ax = plt.subplots(figsize=(max(8.0, 0.9 * len(names)), 4.0))
        w = 0.2
        for i, (v, label) in enumerate(VARIANTS):
            vals = [scen[n]["runs"]["kansho"][fkey] if v == "floor"
                    else scen[n]["runs"].get(v, {}).get(key, np.nan) for n in names]
            ax.bar(x + (i - 1.5) * w, vals, w, label=label)
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(img / fname, dpi=90)
        plt.close(fig)


def _criteria_plot(verdicts: dict[str, dict[str, bool | None]], path: Path) -> None:
    """Scenarios x criteria: green pass, red fail, grey not applicable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(verdicts)
    keys = [c for c, _ in CRITERIA]
    code = np.array([[0.5 if verdicts[n][c] is None else float(bool(verdicts[n][c])) for c in keys] for n in names])
    fig, ax = plt.subplots(figsize=(1.0 * len(keys) + 2.5, 0.4 * len(names) + 1.2))
    ax.imshow(code, cmap=matplotlib.colors.ListedColormap(["#d9534f", "#bbbbbb", "#5cb85c"]), vmin=0, vmax=1,
              aspect="auto")
    for i in range(len(names)):
        for j in range(len(keys)):
            ax.text(j, i, {0.0: "fail", 0.5: "–", 1.0: "pass"}[code[i, j]], ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(keys)), keys)
    ax.set_yticks(range(len(names)), names)
    ax.set_title("issue 17 criteria, Kansho default")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
