"""Inline SVG for the dashboard: sparklines and the term-by-day heat map (no scripts, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup


def sparkline(counts: Sequence[int], width: int = 120, height: int = 24) -> Markup:
    """A polyline of ``counts`` (oldest first), scaled to the largest; a flat line for none."""
    top = max(counts, default=0) or 1
    n = max(len(counts) - 1, 1)
    points = " ".join(
        f"{i * width / n:.1f},{height - 2 - (c / top) * (height - 4):.1f}"
        for i, c in enumerate(counts)
    )
    total = sum(counts)
    return Markup(
        f'<svg class="spark" role="img" aria-label="{total} posts" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{escape(', '.join(str(c) for c in counts))}</title>"
        f'<polyline fill="none" stroke="#2b6cb0" stroke-width="1.5" points="{points}"/></svg>'
    )


def heatmap(
    terms: Sequence[tuple[str, Sequence[int]]],
    days: Sequence[str],
    label: str = "emerging terms by day",
) -> Markup:
    """A grid: one row per term, one column per day, darker for more hits; each cell titled
    with its count."""
    cell, label_w, head_h = 22, 160, 56
    width = label_w + cell * len(days) + 4
    height = head_h + cell * max(len(terms), 1) + 4
    top = max((c for _, counts in terms for c in counts), default=0) or 1
    parts = [
        f'<svg class="heatmap" role="img" aria-label="{escape(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for j, day in enumerate(days):
        x = label_w + j * cell + cell / 2
        parts.append(
            f'<text x="{x:.0f}" y="{head_h - 6}" font-size="10" '
            f'transform="rotate(-60 {x:.0f} {head_h - 6})">{escape(day[5:])}</text>'
        )
    for i, (term, counts) in enumerate(terms):
        y = head_h + i * cell
        parts.append(
            f'<text x="{label_w - 6}" y="{y + cell * 0.7:.0f}" font-size="12" '
            f'text-anchor="end">{escape(term)}</text>'
        )
        for j, count in enumerate(counts):
            shade = 0.08 + 0.92 * (count / top) if count else 0.0
            parts.append(
                f'<rect class="cell" data-count="{count}" x="{label_w + j * cell}" y="{y}" '
                f'width="{cell - 2}" height="{cell - 2}" rx="3" '
                f'fill="rgba(197,48,48,{shade:.2f})" stroke="#ddd">'
                f"<title>{escape(term)} on {escape(days[j])}: {count}</title></rect>"
            )
            if count:
                parts.append(
                    f'<text x="{label_w + j * cell + (cell - 2) / 2:.0f}" '
                    f'y="{y + cell * 0.68:.0f}" font-size="10" text-anchor="middle" '
                    f'fill="{"#fff" if count / top > 0.5 else "#222"}">{count}</text>'
                )
    parts.append("</svg>")
    return Markup("".join(parts))
