"""The ``info/`` tables of a run: what a user reads to trust it (DESIGN §4).

Per-pair statistics and decisions of steps 1-1 and 1-2, the loops, the reference area, every pair
not used and why, the network gaps, what each mask threshold removed, and each pair's coherence
against the decorrelation model. Names from :data:`kansho.layout.INFO_FILES`; written atomically.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from kansho._dates import to_ordinal
from kansho._files import write_text_atomic as _atomic_text
from kansho.chain.context import Context
from kansho.chain.steps.ingest import IngestResult
from kansho.chain.steps.invert import InvertResult
from kansho.chain.steps.loops import LoopsResult
from kansho.chain.steps.mask import MaskResult
from kansho.chain.steps.qc import QCResult
from kansho.layout import INFO_FILES

log = logging.getLogger(__name__)


def dropped_pairs(ctx: Context) -> list[tuple[str, str, str]]:
    """(pair, step, reason) for every interferogram the run did not use."""
    st = ctx.stack
    names = st.pair_names()
    qres = ctx.get(QCResult)
    lres = ctx.get(LoopsResult)
    rows = [(str(n), str(step), str(r)) for n, step, r in ctx.get(IngestResult).dropped]  # 0-3 GACOS
    rows += [(names[i], "1-1", r) for i, r in enumerate(qres.reason) if not qres.keep[i]]
    pairs_in = lres.pairs_in
    nl = dict(zip(pairs_in, lres.n_loops, strict=True))
    nb = dict(zip(pairs_in, lres.n_bad_loops, strict=True))
    for i in lres.bad:
        rows.append((names[i], "1-2", f"unwrapping error: {nb[i]} of {nl[i]} loops bad"))
    for i in lres.bad_noloop:
        rows.append((names[i], "1-2", "unwrapping error in a pair outside every loop (inversion residual > pi)"))
    return rows


def write_info(ctx: Context, info: Path, epochs: np.ndarray) -> None:
    """Write the ``info/`` tables of a finished chain (see :data:`kansho.layout.INFO_FILES`)."""
    st = ctx.stack
    names = st.pair_names()
    qres = ctx.get(QCResult)
    lres = ctx.get(LoopsResult)
    o1 = to_ordinal(st.date1)
    o2 = to_ordinal(st.date2)
    pos = {int(e): i for i, e in enumerate(st.epochs)}
    bp = st.bperp
    lines = ["# pair              bperp_m  dt_day  coverage  mean_coh  used  note"]
    used = set(lres.pairs)
    bad = set(lres.bad) | set(lres.bad_noloop)
    for i, n in enumerate(names):
        db = bp[pos[int(st.date2[i])]] - bp[pos[int(st.date1[i])]]
        note = qres.reason[i] or ("loop closure" if i in bad else "")
        lines.append(f"{n}  {db:8.1f}  {o2[i] - o1[i]:6d}  {qres.coverage[i]:8.3f}  "
                     f"{_f(qres.mean_coh[i]):>8}  {'yes' if i in used else 'no ':>4}  {note}")
    _atomic_text(info / INFO_FILES["ifg_stats"], "\n".join(lines) + "\n")
    write_coherence_model(ctx, info)
    _atomic_text(info / INFO_FILES["bad_ifg_qc"],
                 "".join(f"{names[i]}  {r}\n" for i, r in enumerate(qres.reason) if not qres.keep[i]))
    loop_lines = ["# pair_ij            pair_jk            pair_ik            rms_rad  bad"]
    thr = ctx.cfg.loops.loop_rms_threshold
    for members, rms in zip(lres.loops, lres.loop_rms, strict=True):
        m = [names[k] for k in members]
        loop_lines.append(f"{'  '.join(m)}  {rms:7.3f}  {'bad' if rms >= thr else ''}")
    _atomic_text(info / INFO_FILES["loop_stats"], "\n".join(loop_lines) + "\n")
    _atomic_text(info / INFO_FILES["bad_ifg_loops"], "".join(f"{names[i]}\n" for i in lres.bad + lres.bad_noloop))
    _atomic_text(info / INFO_FILES["no_loop_ifg"], "".join(f"{names[i]}\n" for i in lres.no_loop))
    _atomic_text(info / INFO_FILES["corrected_pairs"], corrected_pairs_text(lres, names))
    r0, r1, c0, c1 = lres.ref
    g = st.grid
    lon = g.lon()
    lat = g.lat()
    kind = getattr(lres, "ref_kind", "window")
    what = (f"# reference: the mean of a set of {lres.ref_pixels} stable pixels (results/refmask.tif); "
            "the box above is a representative window inside it\n" if kind == "set" else "")
    _atomic_text(info / INFO_FILES["ref"],
                 f"{c0}:{c1}/{r0}:{r1}\n# columns x1:x2 / rows y1:y2 (end-exclusive), chosen: {lres.ref_how}\n"
                 f"# lon {lon[c0]:.5f}..{lon[c1 - 1]:.5f}  lat {lat[r1 - 1]:.5f}..{lat[r0]:.5f}\n{what}")
    drops = dropped_pairs(ctx)
    _atomic_text(info / INFO_FILES["dropped"],
                 "pair,step,reason\n" + "".join(f"{p},{s},\"{r}\"\n" for p, s, r in drops))
    ires = ctx.get(InvertResult)
    _atomic_text(info / INFO_FILES["resid_corrected"],
                 resid_corrected_text(ires, lres, names, ctx.cfg.invert.resid_check))
    gaps = ires.network_gaps
    _atomic_text(info / INFO_FILES["network_gaps"],
                 ("".join(f"{epochs[k]}_{epochs[k + 1]}\n" for k in gaps) or "# no gap\n") + gap_tie_text(ires.gap_tie))
    _atomic_text(info / INFO_FILES["epoch_noise"], epoch_noise_text(ires, epochs))
    mres = ctx.get(MaskResult)
    ml = [f"# {mres.n_kept} of {mres.n_valid} solved pixels kept (mask.adapt={ctx.cfg.mask.adapt})",
          "# criterion     threshold   removed_alone  asked"]
    for k, thr_v in mres.thresholds.items():
        asked = f"   {mres.adapted[k][0]:g} (adapted)" if k in mres.adapted else ""
        ml.append(f"{k:14s}  {'off' if thr_v is None else f'{thr_v:g}':>9}   {mres.removed.get(k, 0)}{asked}")
    ml += [f"# ADAPTED {k}: {old:g} -> {new:g}: {why}" for k, (old, new, why) in mres.adapted.items()]
    ml += [f"# WARNING {w}" for w in mres.warnings]
    _atomic_text(info / INFO_FILES["mask_stats"], "\n".join(ml) + "\n")


def epoch_noise_text(ires: InvertResult, epochs: Any) -> str:
    """``13epoch_noise.txt``: each epoch's noise σ and its weight in the velocity fit and the bridge
    (``invert.epoch_weight``), or why the epochs are weighted equally."""
    if not ires.epoch_weight:
        return "# epochs weighted equally (invert.epoch_weight: off, or no pixel solved at every epoch)\n"
    head = ("# each epoch's noise: the interquartile range / 1.349 of the residuals of the pixels' lines at that "
            "epoch (mm), and its weight 1/sigma^2 (mean 1) in the velocity fit and the gap bridge "
            "(invert.epoch_weight)\n"
            "# epoch     sigma_mm  weight\n")
    return head + "".join(f"{e}  {s:8.4f}  {w:.8g}\n" for e, s, w in
                          zip(epochs, ires.epoch_sigma, ires.epoch_weight, strict=True))


def gap_tie_text(tie: dict[str, Any]) -> str:
    """Comment lines of ``13network_gaps.txt`` saying how each gap's segments were tied to the reference
    set (:mod:`kansho.gaptie`); empty without a tie attempted."""
    if not tie:
        return ""
    lines = [f"# tie to the reference set ({tie['n_set']} px, held out at {tie['hole_px']} px): "
             + (tie["reason"] or "the later segments' offsets corrected by its pattern (invert.gap_tie)")]
    for j, (a, km, g, s) in enumerate(zip(tie["alpha"], tie["sigma_km"], tie["gain"], tie["sigma_mm"], strict=True), 1):
        what = (f"width {km:.3g} km, weight {a:.2f}, {100 * g:.0f} % of the set's offset pattern predicted, "
                f"held-out error {s:.3g} mm" if a > 0 else "not tied")
        lines.append(f"# gap {j}: {what}")
    return "\n".join(lines) + "\n"


def _per_pair_counts(header: list[str], rows: list[tuple[str, int, int, str, bool]]) -> str:
    """A per-pair table of pixels corrected and nulled (then ``extra`` columns) after ``header``: the
    rows ``(name, corrected, nulled, extra, shown)`` with ``shown``."""
    lines = header + [f"{name}  {nf:12d}  {nn:9d}{extra}" for name, nf, nn, extra, shown in rows if shown]
    return "\n".join(lines) + "\n"


def corrected_pairs_text(lres: LoopsResult, names: list[str]) -> str:
    """``info/12corrected_pairs.txt``: per pair touched by the unwrapping-error corrections of step 1-2,
    the pixels corrected (integer cycles added; net of the spatial check and the loops) and nulled, the
    pixels the spatial check moved before the loops (and its regions), and whether the pair is used."""
    used = set(lres.pairs)
    n = len(lres.pairs_in)
    jumped = lres.n_jumped or [0] * n
    regions = lres.n_jump_regions or [0] * n
    return _per_pair_counts(
        [f"# per-pixel unwrapping-error correction: {lres.pixel_errors}; spatial check: {lres.spatial_errors}",
         "# pair              corrected_px  nulled_px  spatial_px  spatial_regions  used"],
        [(names[i], nf, nn, f"  {nj:10d}  {nr:15d}  {'yes' if i in used else 'no'}", bool(nf or nn or nj))
         for i, nf, nn, nj, nr in zip(lres.pairs_in, lres.n_fixed, lres.n_nulled, jumped, regions, strict=False)])


def resid_corrected_text(ires: InvertResult, lres: LoopsResult, names: list[str], on: bool) -> str:
    """``info/13corrected_pairs.txt``: per used pair touched by the residual check of step 1-3 (data
    snooping after the inversion), the pixels corrected by whole cycles and nulled."""
    return _per_pair_counts(
        [f"# residual check after the inversion (invert.resid_check): {'on' if on else 'off'}",
         "# pair              corrected_px  nulled_px"],
        [(names[i], nf, nn, "", bool(nf or nn))
         for i, nf, nn in zip(lres.pairs, ires.resid_fixed, ires.resid_nulled, strict=False)])


def write_coherence_model(ctx: Context, info: Path) -> None:
    """``info/11coh_model.txt``: each pair's observed mean coherence against the decorrelation model.

    The temporal model (exponential decay to a floor, :mod:`kansho.planning`) is fitted to this
    run's own pairs, so large residuals point at pairs that decorrelated more than their temporal
    and perpendicular baselines explain (snow, rain, vegetation change, processing problems).
    """
    st = ctx.stack
    obs = np.asarray(ctx.get(QCResult).mean_coh, float)
    if np.isfinite(obs).sum() < 5 or not np.isfinite(st.bperp).all():
        return
    from kansho.planning import predicted_vs_observed

    sensor = "sentinel1_iw" if st.wavelength < 0.1 else "alos2"
    try:
        cmp = predicted_vs_observed(st.date1, st.date2, (st.epochs, st.bperp), obs, sensor, fit=True)
    except Exception as exc:  # noqa: BLE001 - a model that cannot be fitted must not lose the run's products
        log.warning("coherence model not fitted to this run's pairs: %s", exc)
        return
    _atomic_text(info / INFO_FILES["coh_model"], cmp.to_text())


def _f(v: float | None) -> str:
    return "nan" if v is None or not np.isfinite(v) else f"{v:.3f}"
