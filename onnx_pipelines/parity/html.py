"""Render a parity report as one self-contained HTML page (tables, plots inlined as base64 PNG)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from onnx_pipelines.parity.markdown import FAIL, PASS, fmt_diff, fmt_score, headline, summary_rows

if TYPE_CHECKING:
    from onnx_pipelines.parity.results import ParityResults

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#1a202c}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}th,td{border:1px solid #cbd5e0;padding:.3rem .6rem;
text-align:left;vertical-align:top}th{background:#edf2f7}.pass{color:#276749}.fail{color:#c53030;font-weight:600}
.meta{color:#4a5568}details{margin:.5rem 0}img{max-width:100%}code{background:#edf2f7;padding:0 .2rem}
"""


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="{_cls(c)}">{escape(c)}</td>' for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cls(cell: str) -> str:
    return "pass" if cell.startswith(PASS) else "fail" if cell.startswith(FAIL) else ""


def render_html(report: ParityResults) -> str:
    """The whole page; without matplotlib the plots are replaced by a note saying how to get them."""
    from onnx_pipelines.parity.plots import diff_distribution_png, matplotlib_available, metric_png

    data = report.dataset
    parts = [f"<h1>{escape(headline(report))}</h1>"]
    parts.append(
        f'<p class="meta"><b>{escape(report.model["name"])}</b> · {escape(report.task)} · '
        f"<code>{escape(str(data['source']))}</code> · {data['rows_evaluated']} of {data['rows_total']} rows "
        f"({escape(data['selection'])}) · max_length {report.settings['max_length']} · "
        f"provider {escape(str(report.settings['provider']))} · schema {escape(report.schema_version)} · "
        f"{escape(report.created)}</p>"
    )
    header, rows = summary_rows(report)
    parts.append(_table(header, rows))
    if matplotlib_available():
        for title, png in (("Output differences", diff_distribution_png(report)), ("Metric", metric_png(report))):
            if png:
                parts.append(f'<h2>{title}</h2><img alt="{title}" src="data:image/png;base64,{png}">')
    else:
        parts.append("<p><i>Plots need matplotlib: pip install 'onnx-pipelines[plot]'.</i></p>")
    parts.append("<h2>Checks</h2>")
    check_rows = [[v.name, v.precision, f"{PASS if c.passed else FAIL} {c.name}", c.message]
                  for v in report.variants for c in v.checks]
    parts.append(_table(["Variant", "Precision", "Check", "Detail"], check_rows))
    detail_rows = [[v.name, o.name, fmt_diff(o.max_abs_diff), fmt_diff(o.mean_abs_diff), fmt_diff(o.max_rel_diff),
                    str(o.nonfinite_values), "–" if o.cosine_mean is None else f"{o.cosine_mean:.5f}"]
                   for v in report.variants for o in v.outputs]
    if detail_rows:
        parts.append("<h2>Output differences</h2>")
        parts.append(_table(["Variant", "Output", "Max abs", "Mean abs", "Max rel", "NaN/inf", "Mean cosine"],
                            detail_rows))
    for variant in report.variants:
        if variant.error:
            parts.append(f"<p class='fail'>{escape(variant.name)}: {escape(variant.error)}</p>")
        if variant.calibration:
            parts.append(f"<p>{escape(variant.name)}: {escape(variant.calibration.description)}</p>")
        if not variant.disagreements:
            continue
        rows = [[str(d.index), f"{d.reference} ({fmt_score(d.reference_score)})",
                 f"{d.variant} ({fmt_score(d.variant_score)})", d.gold or "–", fmt_score(d.reference_margin, 3), d.text]
                for d in variant.disagreements]
        parts.append(f"<details><summary>{escape(variant.name)}: {variant.disagreement_count} disagreements "
                     f"(worst {len(rows)} shown)</summary>")
        parts.append(_table(["#", "Reference", "Variant", "Gold", "Ref. margin", "Text"], rows) + "</details>")
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>")
    title = escape(f"ONNX parity — {report.model['name']}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
