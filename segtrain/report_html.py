"""HTML of the run report and the sweep summary: one file, nothing fetched to view it.

Images are embedded as ``data:image/png;base64,...`` URIs, the style sheet is inline
and there is no script, so the page opens offline (a laptop, an S3 console download)
and loads without a console message. Every text from the run is escaped.
:mod:`segtrain.report` gathers what goes in; this module only lays it out.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

STYLE = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;margin:0;color:#222;
background:#f6f7f9}
header{background:#1f3b57;color:#fff;padding:16px 28px}
header h1{margin:0;font-size:22px} header p{margin:4px 0 0;opacity:.85;font-size:13px}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:16px 0;padding:12px 18px}
h2{font-size:17px;margin:4px 0 10px;color:#1f3b57}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #dde1e6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
pre{background:#f3f4f6;padding:8px;overflow:auto;font-size:12px;max-height:480px}
img{max-width:100%;height:auto;border:1px solid #dde1e6;margin:4px 0}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#eef1f5;border-radius:6px;padding:8px 14px;min-width:140px}
.card b{display:block;font-size:20px} .card span{font-size:12px;color:#555}
.note{color:#666;font-size:12px} .swatch{display:inline-block;width:12px;height:12px;
border:1px solid #555;margin-right:6px;vertical-align:middle}
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure.overlay{margin:0} figure.overlay img{width:432px;max-width:100%}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def img(png: bytes, alt: str, element_id: str = "") -> str:
    ident = f' id="{esc(element_id)}"' if element_id else ""
    return f'<img{ident} alt="{esc(alt)}" src="{data_uri(png)}">'


def pct(value: float | None) -> str:
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return f"{100 * float(value):.2f}"


def number(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    element_id: str = "",
    numeric_from: int = 1,
) -> str:
    """A plain table; cells already HTML (``str`` of an ``html_cell``) are kept as is."""
    ident = f' id="{esc(element_id)}"' if element_id else ""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            text = cell.html if isinstance(cell, Html) else esc(number(cell))
            klass = ' class="num"' if i >= numeric_from and not isinstance(cell, Html) else ""
            cells.append(f"<td{klass}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class Html:
    """A table cell that is already HTML (links, swatches, attributes)."""

    def __init__(self, html_text: str) -> None:
        self.html = html_text


def key_values(pairs: Iterable[tuple[str, Any]], element_id: str = "") -> str:
    """A two-column table of names and values (no header row)."""
    ident = f' id="{esc(element_id)}"' if element_id else ""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f"<table{ident}><tbody>{rows}</tbody></table>"


def cards(items: Iterable[tuple[str, str]]) -> str:
    inner = "".join(
        f'<div class="card"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for k, v in items
    )
    return f'<div class="cards">{inner}</div>'


def section(title: str, body: str, element_id: str) -> str:
    return f'<section id="{esc(element_id)}"><h2>{esc(title)}</h2>{body}</section>'


def page(title: str, subtitle: str, sections: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<main>{''.join(sections)}</main></body></html>\n"
    )


def iou_table(record: Mapping[str, Any], colors: Sequence[Sequence[int]] | None) -> str:
    """One row per class: swatch + name, IoU and accuracy (%), raw values as data-*."""
    rows = []
    accs = record.get("per_class_acc", {})
    for i, (name, iou) in enumerate(record["per_class_iou"].items()):
        color = colors[i] if colors and i < len(colors) else (200, 200, 200)
        swatch = (
            f'<span class="swatch" style="background:rgb{tuple(int(c) for c in color[:3])}"></span>'
        )
        acc = accs.get(name)
        rows.append(
            f'<tr data-class="{esc(name)}" data-iou="{esc("" if iou is None else repr(float(iou)))}">'
            f'<td>{swatch}{esc(name)}</td><td class="num">{pct(iou)}</td>'
            f'<td class="num">{pct(acc)}</td></tr>'
        )
    head = "<tr><th>class</th><th>IoU (%)</th><th>accuracy (%)</th></tr>"
    return f'<table id="iou-table"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
