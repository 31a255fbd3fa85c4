"""``info/03corrections.txt``: what the delay-layer corrections of Step 0-3 did, per pair and per epoch
(from the stack's ``prep["layers"]`` record, :mod:`kansho.io.prepare`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kansho._files import write_text_atomic as _atomic_text
from kansho.layout import INFO_FILES


def corrections_text(layers: dict[str, Any]) -> str:
    """``info/03corrections.txt`` from the stack's ``prep["layers"]`` record (Step 0-3 delay layers).

    Per pair and layer: phase std before and after (rad, over the pixels where the phase and every
    layer of the pair are finite), the reduction and the decision (kept, declined, forced, or the
    layer missing); then per epoch which layers were found and the std (rad) of each one's delay phase.
    """
    order = list(layers.get("order", []))
    per = layers.get("layer", {})
    lines = [f"# Step 0-3 per-epoch delay layers, applied in the order: {', '.join(order)}",
             "# a layer is kept for a pair where it lowers the phase std given the other layers kept; std before/"
             "after: without/with the layer, the others as kept"]
    for k in order:
        lay = per[k]
        lines.append(f"# {k}: {lay['dir']} (unit {lay['unit']}; {len(lay['epochs_found'])} epochs found; missing: "
                     f"{lay['missing']}{'; forced' if lay['force'] else ''})")
    lines.append("# pair              layer  std_before_rad  std_after_rad  reduction_%  decision")
    unc = layers.get("uncorrected", {})
    for i, name in enumerate(layers.get("pairs", [])):
        for k in order:
            lay = per[k]
            b, a = lay["std_before"][i], lay["std_after"][i]
            if not lay["applies"][i] or b is None or a is None:
                why = "missing (kept uncorrected)" if name in unc.get(k, []) else "no data"
                lines.append(f"{name}  {k:5s}  {'nan':>14}  {'nan':>13}  {'nan':>11}  {why}")
                continue
            red = 100.0 * (1.0 - a / b) if b > 0 else float("nan")
            dec = ("forced" if lay["force"] else "kept") if lay["kept"][i] else "declined"
            lines.append(f"{name}  {k:5s}  {b:14.4f}  {a:13.4f}  {red:11.1f}  {dec}")
    for name, why in layers.get("dropped", []):
        lines.append(f"{name}  {'-':5s}  {'nan':>14}  {'nan':>13}  {'nan':>11}  dropped: {why}")
    lines.append("# per epoch and layer: found, and the std (rad) of its delay phase over the frame (- where not read)")
    lines.append(("# epoch     " + "  ".join(f"{k:14s}" for k in order)).rstrip())
    found = {k: set(per[k]["epochs_found"]) for k in order}
    for e in layers.get("epochs_input", []):
        cells = []
        for k in order:
            sd = per[k].get("epoch_std", {}).get(str(int(e)))
            cells.append(f"{'yes' if int(e) in found[k] else 'no':3s} {'-' if sd is None else f'{sd:.4f}':>10s}")
        lines.append((f"{e}  " + "  ".join(cells)).rstrip())
    return "\n".join(lines) + "\n"


def write_corrections(info: Path, prep_attrs: dict[str, Any]) -> Path | None:
    """Write ``info/03corrections.txt`` when the run applied delay layers; returns its path (or None)."""
    layers = prep_attrs.get("layers")
    if not layers:
        return None
    info.mkdir(parents=True, exist_ok=True)
    path = info / INFO_FILES["corrections"]
    _atomic_text(path, corrections_text(layers))
    return path
