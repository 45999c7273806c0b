"""The parity report: the results of a parity run (data and JSON) with its renderings.

The data and its versioned JSON live in :mod:`onnx_pipelines.parity.results`; the renderers
(:mod:`~onnx_pipelines.parity.markdown`, :mod:`~onnx_pipelines.parity.html`,
:mod:`~onnx_pipelines.parity.junit`) read that data and import nothing back. :class:`ParityReport` is
those results plus the methods that hand them to the renderers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onnx_pipelines.parity.render import render_html, render_junit, render_markdown, write_report
from onnx_pipelines.parity.results import (
    SCHEMA_VERSION,
    Calibration,
    Disagreement,
    MetricResult,
    ParityResults,
    ReferenceResult,
    Timing,
    VariantResult,
)


@dataclass(frozen=True)
class ParityReport(ParityResults):
    """The result of :func:`~onnx_pipelines.parity.evaluate_parity` (fields: :class:`ParityResults`).

    Example:
        >>> report = evaluate_parity("models/bbc", "text-classification", "test.jsonl")  # doctest: +SKIP
        >>> report.passed, [v.name for v in report.failed_variants()]  # doctest: +SKIP
        (True, [])
        >>> report.write("reports/parity", junit="reports/parity.xml")  # doctest: +SKIP
    """

    def to_markdown(self) -> str:
        """A summary that fits a pull-request comment or a CI step summary."""
        return render_markdown(self)

    def to_html(self) -> str:
        """A self-contained HTML page with tables and plots (plots need matplotlib)."""
        return render_html(self)

    def _repr_html_(self) -> str:
        """The headline and the summary table, for Jupyter (no plots: :meth:`to_html` has them)."""
        from html import escape

        from onnx_pipelines.parity.markdown import headline, summary_rows

        header, rows = summary_rows(self)
        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        return (f"<p><b>{escape(headline(self))}</b></p><table border='1' class='dataframe'><thead><tr>{head}"
                f"</tr></thead><tbody>{body}</tbody></table>")

    def to_junit(self) -> str:
        """JUnit XML: one test case per variant, failures carrying the failed checks."""
        return render_junit(self)

    def write(self, report_dir: str | Path, *, junit: str | Path | None = None) -> dict[str, Path]:
        """Write ``parity.json``, ``parity.md`` and ``parity.html`` into ``report_dir`` (and JUnit XML).

        Returns:
            The written paths by format (``json``, ``markdown``, ``html``, ``junit``).
        """
        return write_report(self, report_dir, junit=junit)


__all__ = [
    "SCHEMA_VERSION",
    "Calibration",
    "Disagreement",
    "MetricResult",
    "ParityReport",
    "ParityResults",
    "ReferenceResult",
    "Timing",
    "VariantResult",
]
