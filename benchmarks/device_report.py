"""The "Beyond two cores, and on the GPU" section of ``docs/benchmarks.md`` and
``docs/img/scaling_workers.png``, from ``benchmarks/results_device.json`` (``bench_device.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def device_md(steps: tuple[str, ...]) -> list[str]:
    """The section, newest run first; ``steps`` are the chain's step names (the per-step tables' columns)."""
    path = HERE / "results_device.json"
    if not path.exists():
        return []
    runs = json.loads(path.read_text())["runs"]
    lines = ["## Beyond two cores, and on the GPU", "",
             "Written from `benchmarks/results_device.json` (`python benchmarks/bench_device.py` on a machine with "
             "more cores and a CUDA GPU). Each run says where it was measured; the newest is first, and only runs "
             "of the same revision and machine compare.", ""]
    newest = next((r for r in reversed(runs) if r.get("workers")), None)
    if newest is not None and _plot(newest, ROOT / "docs" / "img" / "scaling_workers.png"):
        lines += [f"![wall time of the M frame against dask workers and threads (rev {newest['rev']})]"
                  "(img/scaling_workers.png)", ""]
    for r in reversed(runs):
        m = r["machine"]
        vers = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items() if k != "python")
        lines += [f"### {m['date']}, {m.get('where', m['cpu'])} (rev {r['rev']})", "",
                  f"CPU {m['cpu']}{' (' + m['cpu_model'] + ')' if m.get('cpu_model') else ''}, {m['cores']} cores, "
                  f"{m['mem_gb']} GiB; GPU {m.get('gpu') or 'none'}; Python {m['python']}"
                  f"{'; ' + vers if vers else ''}. Environment: {r.get('env', 'default')}.", ""]
        if r.get("cut"):
            lines += [f"Not measured: {r['cut']}.", ""]
        lines += _gpu_md(r.get("gpu_inversion", {})) + _curve_md(r, steps)
    return lines


def _gpu_md(gi: dict[str, Any]) -> list[str]:
    if not gi:
        return []
    lines = ["`--gpu` inversion (`invert_nsbas(device=\"gpu\")`, CuPy, float64) against the compiled CPU "
             "kernel on all cores, one block of 262,144 pixels as step 1-3 inverts it (coherence weights, "
             "10 % NaNs, a network gap at a tenth of the pixels); best of 3 after a warm-up:", "",
             "| block | epochs | pairs | CPU kernel (s) | GPU (s) | CPU px·pairs/s | GPU px·pairs/s | "
             "GPU / CPU speed | cum difference, relative to the largest cum |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, g in gi.items():
        lines.append(f"| {name} | {g['n_epoch']} | {g['n_pair']} | {g['cpu']['s']:.2f} | {g['gpu']['s']:.2f} | "
                     f"{g['cpu']['px_pairs_per_s']:.3g} | {g['gpu']['px_pairs_per_s']:.3g} | "
                     f"{g['speedup']:.2f}× | {g['cum_rel_diff']:.1e} |")
    return [*lines, ""]


def _same(vs: dict[str, float] | None) -> str:
    if vs is None:
        return "–"
    if vs["vel_identical_share"] == 1 and vs["cum_max_abs_diff"] == 0:
        return "identical"
    return (f"vel within {vs['vel_max_abs_diff']:.1e} mm/yr, cum within {vs['cum_max_abs_diff']:.1e} mm, mask "
            f"{100 * vs['mask_identical_share']:.0f} % identical")


def _curve_md(r: dict[str, Any], steps: tuple[str, ...]) -> list[str]:
    workers = {k: v for k, v in r.get("workers", {}).items() if "error" not in v}
    threads = {k: v for k, v in r.get("threads", {}).items() if "error" not in v}
    if not workers and not threads:
        return []
    cores = r["machine"]["cores"]
    lines: list[str] = []
    rows: list[tuple[str, dict[str, Any]]] = []
    if workers:
        base = workers.get("w1", {}).get("wall_s")
        lines += [f"The {r.get('frame', 'M')} frame, one `kansho ts` process (the numba cache filled beforehand), "
                  "with N dask workers (w0: none, the blocks on threads of the one process):", "",
                  "| run | workers | wall (s) | speed-up against 1 worker | CPU (s) | peak memory (MB) | "
                  "products against the run without workers |", "|---|---|---|---|---|---|---|"]
        for key, v in sorted(workers.items(), key=lambda kv: (kv[1]["gpu"], kv[1]["workers"])):
            sp = f"{base / v['wall_s']:.2f}×" if base else "–"
            lines.append(f"| {key} | {v['workers']}{' + GPU' if v['gpu'] else ''} | {v['wall_s']:.1f} | {sp} | "
                         f"{v['cpu_s']:.0f} | {v['peak_mb']:.0f} | {_same(v.get('vs_w0'))} |")
            rows.append((key, v))
        lines.append("")
    if threads:
        all_cores = workers.get("w0")
        curve = sorted(threads.items(), key=lambda kv: kv[1]["threads"])
        if all_cores:
            curve.append((f"w0 (t{cores})", dict(all_cores, threads=cores)))
        base = curve[0][1]["wall_s"] if curve[0][1]["threads"] == 1 else None
        lines += ["Without workers, on n threads (`NUMBA_NUM_THREADS=n`: blocks at once and each kernel's threads)"
                  + (f"; {r['threads_note']}" if r.get("threads_note") else "") + ":", "",
                  "| run | threads | wall (s) | speed-up against 1 thread | CPU (s) | peak memory (MB) | "
                  "products against the run without workers on all cores |", "|---|---|---|---|---|---|---|"]
        for key, v in curve:
            sp = f"{base / v['wall_s']:.2f}×" if base else "–"
            lines.append(f"| {key} | {v['threads']} | {v['wall_s']:.1f} | {sp} | {v['cpu_s']:.0f} | "
                         f"{v['peak_mb']:.0f} | {_same(v.get('vs_w0'))} |")
        rows += [(k, v) for k, v in curve if not k.startswith("w0")]
        lines.append("")
    lines += ["Per step (s):", "", "| run | " + " | ".join(steps) + " |", "|---|" + "---|" * len(steps)]
    for key, v in rows:
        lines.append(f"| {key} | " + " | ".join(f"{v['steps'][s]['step_s']:.1f}" if s in v["steps"] else "–"
                                                for s in steps) + " |")
    return [*lines, ""]


def _plot(r: dict[str, Any], path: Path) -> bool:
    """Wall time against workers and against threads, one run's (both curves on one machine and revision)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = sorted((v["workers"], v["wall_s"]) for v in r.get("workers", {}).values()
                     if "error" not in v and not v["gpu"] and v["workers"] > 0)
    threads = sorted((v["threads"], v["wall_s"]) for v in r.get("threads", {}).values() if "error" not in v)
    w0 = r.get("workers", {}).get("w0")
    if threads and w0 and "error" not in w0:
        threads.append((r["machine"]["cores"], w0["wall_s"]))
    if len(workers) < 2 and len(threads) < 2:
        return False
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for pts, label, style in ((workers, "dask workers (--workers N)", "o-"),
                              (threads, "no workers, N threads (NUMBA_NUM_THREADS)", "s-")):
        if len(pts) >= 2:
            n, t = zip(*pts)
            ax.plot(n, t, style, label=label)
            if n[0] == 1:
                ax.plot(n, [t[0] / x for x in n], ":", color="grey")
    ax.plot([], [], ":", color="grey", label="ideal (1 / N)")
    ticks = sorted({n for n, _ in workers + threads})
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(x) for x in ticks])
    ax.set_xlabel("N")
    ax.set_ylabel(f"wall time of the {r.get('frame', 'M')} frame (s)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    ax.set_title(f"{r['machine'].get('where', r['machine']['cpu'])}, rev {r['rev']}", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
