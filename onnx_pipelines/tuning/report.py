"""The result of a tune run as users hold it: the data of :mod:`onnx_pipelines.tuning.result` plus its
renderings (Markdown, HTML, and the table Jupyter shows), the way :class:`~onnx_pipelines.parity.report.ParityReport`
adds its renderings to the parity results."""

from __future__ import annotations

from dataclasses import dataclass

from onnx_pipelines.tuning.render import html_table, render_html, render_markdown
from onnx_pipelines.tuning.result import TuneResults


@dataclass(frozen=True)
class TuneResult(TuneResults):
    """The result of :func:`~onnx_pipelines.tuning.tune` (fields: :class:`~onnx_pipelines.tuning.result.TuneResults`),
    with its renderings."""

    def to_markdown(self) -> str:
        """The candidates table and the headline, as Markdown (``tune.md``)."""
        return render_markdown(self)

    def to_html(self) -> str:
        """A standalone HTML page (``tune.html``)."""
        return render_html(self)

    def _repr_html_(self) -> str:
        return html_table(self)


__all__ = ["TuneResult"]
