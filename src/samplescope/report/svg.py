"""Tiny inline-SVG charts, so a report opens anywhere without network or plotting libraries."""

from __future__ import annotations

import html

import numpy as np

__all__ = ["bars_svg", "boxes_svg", "histogram_svg", "lines_svg"]


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


def _ticks(lo: float, hi: float, n: int = 4) -> np.ndarray:
    """About ``n`` round tick values covering ``[lo, hi]``."""
    span = hi - lo if hi > lo else 1.0
    step = 10 ** np.floor(np.log10(span / n))
    for m in (1, 2, 2.5, 5, 10):
        if span / (m * step) <= n:
            step *= m
            break
    ticks = np.arange(np.ceil(lo / step) * step, hi + step * 1e-9, step)
    ticks[np.abs(ticks) < step * 1e-6] = 0.0  # no "-0"
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.1e}"


def lines_svg(series: dict[str, tuple], *, title: str = "", width: int = 340, height: int = 190,
              xlabel: str = "", ylabel: str = "", x_percent: bool = False) -> str:
    """Line chart: ``series = {name: (x, y, colour, dashed)}`` with axes, ticks and a zero line."""
    xs = np.concatenate([np.asarray(s[0], float) for s in series.values()]) if series else np.zeros(1)
    ys = np.concatenate([np.asarray(s[1], float) for s in series.values()]) if series else np.zeros(1)
    ys = ys[np.isfinite(ys)]
    if ys.size == 0:
        ys = np.zeros(1)
    x0, x1 = float(xs.min()), float(xs.max()) or 1.0
    y0, y1 = float(min(ys.min(), 0.0)), float(max(ys.max(), 0.0))
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1.0, y1 + 1.0
    pad = 0.06 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    L, R, T, B = 46, 8, 20, 30
    w, h = width - L - R, height - T - B

    def px(x):
        return L + w * (x - x0) / ((x1 - x0) or 1.0)

    def py(y):
        return T + h * (1 - (y - y0) / (y1 - y0))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{html.escape(title)}" font-family="sans-serif">',
           f'<text x="{L}" y="13" font-size="11" font-weight="bold">{html.escape(title)}</text>',
           f'<rect x="{L}" y="{T}" width="{w}" height="{h}" fill="none" stroke="#bbb"/>']
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{L}" y1="{py(t):.1f}" x2="{L + w}" y2="{py(t):.1f}" stroke="#eee"/>'
                   f'<text x="{L - 3}" y="{py(t) + 3:.1f}" font-size="9" text-anchor="end">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        lab = f"{100 * t:.0f}%" if x_percent else _fmt(t)
        out.append(f'<text x="{px(t):.1f}" y="{T + h + 11}" font-size="9" text-anchor="middle">{lab}</text>')
    if y0 < 0 < y1:
        out.append(f'<line x1="{L}" y1="{py(0):.1f}" x2="{L + w}" y2="{py(0):.1f}" stroke="#555" stroke-width="0.8"/>')
    for name, (x, y, colour, dashed) in series.items():
        pts = [(px(a), py(b)) for a, b in zip(np.asarray(x, float), np.asarray(y, float)) if np.isfinite(b)]
        if not pts:
            continue
        d = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
        dash = ' stroke-dasharray="4,3"' if dashed else ""
        out.append(f'<polyline points="{d}" fill="none" stroke="{colour}" stroke-width="1.8"{dash}/>')
        out.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.2" fill="{colour}"/>' for a, b in pts)
    if xlabel:
        out.append(f'<text x="{L + w / 2:.0f}" y="{height - 3}" font-size="9" text-anchor="middle">'
                   f'{html.escape(xlabel)}</text>')
    if ylabel:
        out.append(f'<text x="10" y="{T + h / 2:.0f}" font-size="9" text-anchor="middle" '
                   f'transform="rotate(-90 10 {T + h / 2:.0f})">{html.escape(ylabel)}</text>')
    out.append("</svg>")
    return "".join(out)


def bars_svg(values: dict[str, float], *, title: str = "", ref: float | None = None, ref_label: str = "",
             unit: str = "s", highlight: str | None = None, width: int = 560) -> str:
    """Horizontal bars on a log axis (e.g. predicted seconds), with a reference line (e.g. the budget)."""
    items = [(k, float(v)) for k, v in values.items() if v is not None and np.isfinite(v) and v > 0]
    if not items:
        return "<svg/>"
    row, L, R, T = 16, 110, 60, 22
    height = T + row * len(items) + 24
    vals = np.array([v for _, v in items] + ([ref] if ref else []))
    lo = 10 ** np.floor(np.log10(vals.min()))
    hi = 10 ** np.ceil(np.log10(vals.max()))
    if hi <= lo:
        hi = lo * 10
    w = width - L - R

    def px(v):
        return L + w * (np.log10(v) - np.log10(lo)) / (np.log10(hi) - np.log10(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{html.escape(title)}" font-family="sans-serif">',
           f'<text x="0" y="13" font-size="11" font-weight="bold">{html.escape(title)}</text>']
    for e in range(int(np.log10(lo)), int(np.log10(hi)) + 1):
        x = px(10.0 ** e)
        out.append(f'<line x1="{x:.1f}" y1="{T}" x2="{x:.1f}" y2="{T + row * len(items)}" stroke="#eee"/>'
                   f'<text x="{x:.1f}" y="{T + row * len(items) + 11}" font-size="9" text-anchor="middle">'
                   f'{_fmt(10.0 ** e)} {unit}</text>')
    for i, (k, v) in enumerate(items):
        y = T + row * i
        col = "#d62728" if ref is not None and v > ref else "#1f77b4"
        weight = ' font-weight="bold"' if k == highlight else ""
        out.append(f'<text x="{L - 4}" y="{y + 11}" font-size="10" text-anchor="end"{weight}>{html.escape(k)}</text>'
                   f'<rect x="{L}" y="{y + 3}" width="{max(px(v) - L, 1):.1f}" height="{row - 6}" fill="{col}" '
                   f'fill-opacity="0.7"/><text x="{max(px(v), L) + 3:.1f}" y="{y + 11}" font-size="9">{_fmt(v)}</text>')
    if ref:
        x = px(ref)
        out.append(f'<line x1="{x:.1f}" y1="{T - 4}" x2="{x:.1f}" y2="{T + row * len(items)}" stroke="#d62728" '
                   f'stroke-dasharray="4,3"/><text x="{x + 3:.1f}" y="{T - 6}" font-size="9" fill="#d62728">'
                   f'{html.escape(ref_label)}</text>')
    out.append("</svg>")
    return "".join(out)


def boxes_svg(groups: dict[str, np.ndarray], *, title: str = "", width: int = 560, height: int = 170) -> str:
    """One box (quartiles, whiskers at the 5th/95th percentile) per group, e.g. per query."""
    items = [(k, np.asarray(v, float)) for k, v in groups.items() if len(v)]
    if not items:
        return "<svg/>"
    allv = np.concatenate([v for _, v in items])
    y0, y1 = np.quantile(allv, [0.01, 0.99])
    y0, y1 = min(y0, 0.0), max(y1, 0.0)
    if y1 <= y0:
        y0, y1 = y0 - 0.5, y1 + 0.5
    L, R, T, B = 46, 6, 20, 34
    w, h = width - L - R, height - T - B
    bw = w / len(items)

    def py(y):
        return T + h * (1 - (np.clip(y, y0, y1) - y0) / (y1 - y0))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
           f'aria-label="{html.escape(title)}" font-family="sans-serif">',
           f'<text x="{L}" y="13" font-size="11" font-weight="bold">{html.escape(title)}</text>',
           f'<rect x="{L}" y="{T}" width="{w}" height="{h}" fill="none" stroke="#bbb"/>']
    for t in _ticks(y0, y1):
        out.append(f'<text x="{L - 3}" y="{py(t) + 3:.1f}" font-size="9" text-anchor="end">{_fmt(t)}</text>')
    if y0 < 0 < y1:
        out.append(f'<line x1="{L}" y1="{py(0):.1f}" x2="{L + w}" y2="{py(0):.1f}" stroke="#555" '
                   f'stroke-dasharray="3,2"/>')
    for i, (k, v) in enumerate(items):
        q05, q25, q50, q75, q95 = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95])
        cx = L + bw * (i + 0.5)
        half = min(bw * 0.35, 10)
        out.append(f'<line x1="{cx:.1f}" y1="{py(q95):.1f}" x2="{cx:.1f}" y2="{py(q05):.1f}" stroke="#1f77b4"/>'
                   f'<rect x="{cx - half:.1f}" y="{py(q75):.1f}" width="{2 * half:.1f}" '
                   f'height="{max(py(q25) - py(q75), 1):.1f}" fill="#1f77b4" fill-opacity="0.35" stroke="#1f77b4"/>'
                   f'<line x1="{cx - half:.1f}" y1="{py(q50):.1f}" x2="{cx + half:.1f}" y2="{py(q50):.1f}" '
                   f'stroke="#d62728" stroke-width="1.5"/>')
        if len(items) <= 40:
            out.append(f'<text x="{cx:.1f}" y="{T + h + 10}" font-size="8" text-anchor="end" '
                       f'transform="rotate(-45 {cx:.1f} {T + h + 10})">{html.escape(str(k)[:10])}</text>')
    out.append("</svg>")
    return "".join(out)
