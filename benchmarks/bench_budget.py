"""Peak memory of the whole chain against the run's memory budget (``--memory-limit``).

Runs `kansho ts` in one child process (``benchmarks/_step.py``: peak = largest sum of the resident sets of the
process and its children, the figures' side process included, sampled as it runs) on simulated frames, each
with the budgets of :data:`CASES`, and writes ``benchmarks/results_budget.json`` and
``docs/benchmarks_budget.md``. A long series (300 epochs) is in the cases because what grows with the epochs or
with the number of blocks (a smaller budget makes smaller blocks, so more of them) is what the blocks alone do
not bound. Each run's stores are deleted once it is measured.

    python benchmarks/bench_budget.py            # the long series' cases (~5 min on 2 cores)
    python benchmarks/bench_budget.py --with-l   # and the L frame under 2GB and 1GB (~16 min more)
    python benchmarks/bench_budget.py --with-xl  # and a 25-million-pixel frame (~15 min more, ~25 GB of disk)
    python benchmarks/bench_budget.py --write-only
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_chain as bc

log = logging.getLogger("bench_budget")

#: (frame, its simulation, the budgets it runs with; None = kansho's default budget)
CASES: list[tuple[str, dict[str, Any], list[str | None]]] = [
    ("T", {"shape": (400, 400), "n_epoch": 300, "interval_days": 12, "pairs_per_epoch": 4}, ["600MB", "1GB", None]),
]
#: with --with-l
L_CASE = ("L", bc.SIZES["L"], ["2GB", "1GB"])
#: with --with-xl: a 5000 x 5000 px frame (a finer multilook of a full frame; few epochs, for the disk's sake) under
#: the budget kansho gives itself on an 8 GB laptop (60 % of its RAM) and by default
XL_CASE = ("XL", {"shape": (5000, 5000), "n_epoch": 24, "interval_days": 12, "pairs_per_epoch": 2}, ["4.8GB", None])
RESULTS = bc.ROOT / "benchmarks" / "results_budget.json"
DOC = bc.ROOT / "docs" / "benchmarks_budget.md"


def budget_mb(limit: str | None) -> float | None:
    """The budget in MB (1e6 bytes) as kansho reads it, None for its default."""
    from kansho.parallel import parse_memory

    return None if limit is None else parse_memory(limit) / 1e6


def block_of(out: Path) -> int:
    """The block side the run used (its log says when the budget made it smaller than the default 256 px)."""
    m = re.findall(r"memory budget holds blocks of (\d+) px", (out / "kansho.log").read_text())
    return int(m[0]) if m else 256


def at_once(out: Path) -> int:
    """Blocks the run processed at once (its log says when the budget held fewer than numba's threads)."""
    import numba

    m = re.findall(r"blocks of \d+ px(?: \(not \d+\))?, (\d+) at once", (out / "kansho.log").read_text())
    return int(m[-1]) if m else numba.get_num_threads()


def run_case(res: dict[str, Any], name: str, sim_cfg: dict[str, Any], limit: str | None) -> None:
    sim, _ = bc.simulate(name, sim_cfg)
    tag = limit or "default"
    out = bc.CACHE / f"{name}_budget_{tag}"
    log.info("%s with --memory-limit %s:", name, tag)
    fig = bc.run_steps(sim, out, 0, limit, per_step=False)
    st = json.loads((out / "work" / "state.json").read_text())["ingest"]["result"]
    fig.update(shape=st["shape"], n_epoch=st["n_epoch"], n_pair=st["n_pair"], limit=limit, budget_mb=budget_mb(limit),
               block=block_of(out), at_once=at_once(out), machine=bc.machine(), rev=bc.git_rev(bc.ROOT))
    res[f"{name}/{tag}"] = fig
    RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    log.info("%s %s: %.1f s, %.0f MB peak (block %d px)", name, tag, fig["wall_s"], fig["peak_mb"], fig["block"])
    shutil.rmtree(out, ignore_errors=True)


def write_md(res: dict[str, Any]) -> None:
    from kansho.chain.budget import frame_need

    lines = ["# Memory against the budget", "",
             "Written by `python benchmarks/bench_budget.py` (figures in `benchmarks/results_budget.json`): the whole "
             "chain (`kansho ts`, default options) in one process on simulated frames, with `--memory-limit` as given "
             "(\"default\": kansho's own budget, 60 % of the RAM up to 8 GB or 2 GB a core). Peak: the largest sum of "
             "the resident sets of the process and its children (the figures' side process included), sampled as it "
             "runs, in MB of 10⁶ bytes as the budget is; libraries mapped in both processes count twice. Block: "
             "the side the budget left the blocks (default 256 px); at once: the blocks processed at once (one a core "
             "where the budget holds them). Least: what kansho counts a run of the frame to take whatever its budget "
             "(`kansho.chain.budget.frame_need`, the whole maps of its frame-wide steps): a budget below it is "
             "exceeded, and the run says so as it starts.", "",
             "| frame | pixels | epochs | pairs | --memory-limit | block (px) | at once | wall (s) | peak (MB) | "
             "peak / budget | least (MB) | rev | measured |", "|---" * 13 + "|"]
    for key in sorted(res, key=lambda k: (k.split("/")[0], res[k]["budget_mb"] or 1e18)):
        r = res[key]
        peak = r["peak_mb"] * 2**20 / 1e6  # _step.py's MiB, in the budget's MB
        ratio = f"{peak / r['budget_mb']:.2f}" if r["budget_mb"] else "–"
        lines.append(f"| {key.split('/')[0]} | {r['shape'][1]}×{r['shape'][0]} | {r['n_epoch']} | {r['n_pair']} | "
                     f"{r['limit'] or 'default'} | {r['block']} | {r.get('at_once', '–')} | {r['wall_s']:.1f} | "
                     f"{peak:.0f} | {ratio} | {frame_need((r['shape'][0], r['shape'][1])) / 1e6:.0f} | {r['rev']} | "
                     f"{bc.where(r['machine'])} |")
    DOC.write_text("\n".join(lines) + "\n")
    log.info("wrote %s", DOC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--with-l", action="store_true", help="also the L frame under --memory-limit 2GB and 1GB (~16 min)")
    ap.add_argument("--with-xl", action="store_true",
                    help="also a 5000 x 5000 px frame under 4.8GB and by default (~15 min, ~25 GB of disk)")
    ap.add_argument("--write-only", action="store_true", help="only rebuild docs/benchmarks_budget.md")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    res: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.write_only:
        bc.warm_tree(bc.ROOT, "this tree")
        for name, cfg, limits in CASES + ([L_CASE] if args.with_l else []) + ([XL_CASE] if args.with_xl else []):
            for limit in limits:
                run_case(res, name, cfg, limit)
    write_md(res)


if __name__ == "__main__":
    main()
