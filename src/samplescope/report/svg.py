"""Tiny inline-SVG charts, so a report opens anywhere without network or plotting libraries."""

from __future__ import annotations

import html

import numpy as np

__all__ = ["histogram_svg"]


def histogram_svg(series: dict[str, np.ndarray], *, bins: int = 40, width: int = 420, height: int = 140,
                  title: str = "") -> str:
    """Overlaid histograms (one colour per series) of values on a shared symmetric-log-free axis."""
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    allv = np.concatenate([np.asarray(v, dtype=float) for v in series.values() if len(v)])
    if allv.size == 0:
        return "<svg/>"
    lo, hi = np.quantile(allv, [0.005, 0.995])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    pad_l, pad_b = 8, 22
    w, h = width - 2 * pad_l, height - pad_b - 18
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="{html.escape(title)}">']
    parts.append(f'<text x="{pad_l}" y="12" font-size="11">{html.escape(title)}</text>')
    for c, (name, v) in enumerate(series.items()):
        counts, _ = np.histogram(np.clip(np.asarray(v, dtype=float), lo, hi), bins=edges)
        dens = counts / max(1, counts.sum())
        top = dens.max() or 1.0
        col = colours[c % len(colours)]
        for b, d in enumerate(dens):
            bh = h * d / top
            x = pad_l + w * b / bins
            parts.append(f'<rect x="{x:.1f}" y="{18 + h - bh:.1f}" width="{w / bins:.1f}" height="{bh:.1f}" '
                         f'fill="{col}" fill-opacity="0.45"/>')
        parts.append(f'<text x="{pad_l + 4 + 110 * c}" y="{height - 4}" font-size="10" fill="{col}">'
                     f'■ {html.escape(name)} (n={len(v)})</text>')
    if lo < 0 < hi:
        x0 = pad_l + w * (0 - lo) / (hi - lo)
        parts.append(f'<line x1="{x0:.1f}" y1="18" x2="{x0:.1f}" y2="{18 + h}" stroke="#333" stroke-dasharray="3,2"/>')
    parts.append(f'<text x="{pad_l}" y="{18 + h + 10}" font-size="9">{lo:.3g}</text>')
    parts.append(f'<text x="{pad_l + w - 40}" y="{18 + h + 10}" font-size="9">{hi:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)
