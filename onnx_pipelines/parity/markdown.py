"""Render a parity report as Markdown that fits a pull-request comment or a CI step summary."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnx_pipelines.parity.results import ParityResults, VariantResult

PASS, FAIL = "✅", "❌"
METRIC_TITLES = {"accuracy": "Accuracy", "macro_f1": "Macro-F1"}


def fmt_diff(value: float | None) -> str:
    """A difference in scientific notation (``NaN/inf`` when it could not be computed)."""
    return "NaN/inf" if value is None else f"{value:.2e}"


def fmt_score(value: float | None, digits: int = 2) -> str:
    """A score or margin (``NaN`` when a broken variant produced none)."""
    return "NaN" if value is None else f"{value:.{digits}f}"


def fmt_percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}%"


def fmt_delta(points: float) -> str:
    return f"{points:+.2f}".replace("-", "−")


def headline(report: ParityResults) -> str:
    """One line: the verdict and the counts."""
    total = len(report.variants)
    failed = len(report.failed_variants())
    if failed == 0:
        return f"{PASS} ONNX parity: all {total} variant{'s' if total != 1 else ''} pass"
    return f"{FAIL} ONNX parity: {failed} of {total} variant{'s' if total != 1 else ''} fail"


def summary_rows(report: ParityResults) -> tuple[list[str], list[list[str]]]:
    """The main table (header, rows) shared by the Markdown and HTML renderings."""
    metric_names = list(report.reference.metrics)
    has_cosine = any(o.cosine_min is not None for v in report.variants for o in v.outputs)
    header = ["Variant", *[METRIC_TITLES.get(m, m) for m in metric_names]]
    if report.primary_metric:
        header.append("Δ points")
    header += ["Agreement", "Max abs diff"]
    if has_cosine:
        header.append("Min cosine")
    header += ["Examples/s", "vs PyTorch", "Result"]
    ref_speed = report.reference.timing.examples_per_second
    rows = [["PyTorch (reference)", *[fmt_percent(report.reference.metrics[m]) for m in metric_names]]
            + (["–"] if report.primary_metric else []) + ["–", "–"] + (["–"] if has_cosine else [])
            + [f"{ref_speed:.1f}", "1.00×", ""]]
    for variant in report.variants:
        row = [variant.name]
        for name in metric_names:
            metric = variant.metric(name)
            row.append(fmt_percent(metric.value) if metric else "–")
        if report.primary_metric:
            primary = variant.metric(report.primary_metric)
            row.append(fmt_delta(primary.delta_points) if primary else "–")
        if variant.agreement is None:
            row.append("–")
        else:
            suffix = f" ({variant.disagreement_count} differ)" if variant.disagreement_count else ""
            row.append(f"{variant.agreement * 100:.2f}%{suffix}")
        row.append(", ".join(fmt_diff(o.max_abs_diff) for o in variant.outputs) or "–")
        if has_cosine:
            cosines = [o.cosine_min for o in variant.outputs if o.cosine_min is not None]
            row.append(f"{min(cosines):.4f}" if cosines else "–")
        if variant.timing is not None:
            speed = variant.timing.examples_per_second
            row += [f"{speed:.1f}", f"{speed / ref_speed:.2f}×" if ref_speed else "–"]
        else:
            row += ["–", "–"]
        row.append(f"{PASS} pass" if variant.passed else f"{FAIL} fail")
        rows.append(row)
    return header, rows


def failure_lines(variant: VariantResult) -> list[str]:
    """The messages of a variant's failed checks."""
    return [f"{check.name}: {check.message}" for check in variant.checks if not check.passed]


def render_markdown(report: ParityResults) -> str:
    """The report as GitHub-flavoured Markdown."""
    data = report.dataset
    lines = [f"## {headline(report)}", ""]
    metric = f"primary metric: {report.primary_metric}" if report.primary_metric else "metric: no labels"
    lines.append(
        f"**{report.model['name']}** · {report.task} · `{data['source']}` ({data['rows_evaluated']} of "
        f"{data['rows_total']} rows, {data['selection']}) · max_length {report.settings['max_length']} · {metric}"
    )
    lines.append("")
    header, rows = summary_rows(report)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    lines.append("")
    failed = report.failed_variants()
    if failed:
        lines += ["### Failures", ""]
        for variant in failed:
            for message in failure_lines(variant):
                lines.append(f"- **{variant.name}** — {message}")
        lines.append("")
    lines += ["<details><summary>Checks and limits</summary>", ""]
    for variant in report.variants:
        checks = "; ".join(f"{PASS if c.passed else FAIL} {c.message}" for c in variant.checks)
        lines.append(f"- **{variant.name}** ({variant.precision}): {checks}")
    lines += ["", "</details>", ""]
    for variant in report.variants:
        if not variant.disagreements:
            continue
        lines += [f"<details><summary>{variant.name}: {variant.disagreement_count} disagreements "
                  f"(worst {len(variant.disagreements)} shown)</summary>", ""]
        gold = any(d.gold is not None for d in variant.disagreements)
        lines.append("| # | Reference | Variant | " + ("Gold | " if gold else "") + "Ref. margin | Text |")
        lines.append("|---|---|---|" + ("---|" if gold else "") + "---|---|")
        for d in variant.disagreements:
            text = d.text[:160].replace("|", "\\|").replace("\n", " ")
            cells = [str(d.index), f"{d.reference} ({fmt_score(d.reference_score)})",
                     f"{d.variant} ({fmt_score(d.variant_score)})"]
            cells += [d.gold or "–"] if gold else []
            cells += [fmt_score(d.reference_margin, 3), text]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "</details>", ""]
    if report.notes:
        lines += ["**Notes**", ""] + [f"- {note}" for note in report.notes] + [""]
    return "\n".join(lines).rstrip("\n") + "\n"
