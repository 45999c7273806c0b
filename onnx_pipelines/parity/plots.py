"""Plots for the HTML report, as base64 PNG strings (matplotlib, imported only when plotting).

The figures are drawn on matplotlib's Agg canvas directly (``Figure`` + ``FigureCanvasAgg``), which
needs no display and leaves the process-wide backend that ``matplotlib.use`` would switch untouched.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onnx_pipelines.parity.results import ParityResults


def matplotlib_available() -> bool:
    """Whether matplotlib can be imported (``pip install 'onnx-pipelines[plot]'``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _png(figure: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def diff_distribution_png(report: ParityResults) -> str | None:
    """Per variant, how per-example max absolute differences spread (log scale); ``None`` if nothing ran."""
    from matplotlib.figure import Figure

    series = [(v.name, v.outputs[0]) for v in report.variants if v.outputs]
    if not series:
        return None
    figure = Figure(figsize=(7.5, 3.6))
    axes = figure.add_subplot()
    for name, output in series:
        hist = output.histogram
        edges = hist.log10_edges
        centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        label = f"{name} ({output.name})"
        extras = []
        if hist.zeros:
            extras.append(f"{hist.zeros} exact")
        if hist.nonfinite:
            extras.append(f"{hist.nonfinite} NaN/inf")
        if extras:
            label += " — " + ", ".join(extras)
        axes.step(centers, hist.counts, where="mid", label=label)
    used = [c for _, o in series for c, n in zip(o.histogram.log10_edges, o.histogram.counts, strict=False) if n]
    if used:  # zoom on the decades that hold data, keeping one decade of margin
        axes.set_xlim(min(used) - 1, max(used) + 1.25)
    axes.set_xlabel("log10 of per-example max |variant − PyTorch|")
    axes.set_ylabel("examples")
    axes.set_title("Distribution of output differences")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    return _png(figure)


def metric_png(report: ParityResults) -> str | None:
    """The primary metric per variant next to the reference (agreement when there are no labels)."""
    from matplotlib.figure import Figure

    if report.primary_metric:
        title = report.primary_metric
        names = ["PyTorch", *[v.name for v in report.variants]]
        metrics = [v.metric(report.primary_metric) for v in report.variants]
        values = [report.reference.metrics[report.primary_metric] * 100]
        values += [m.value * 100 if m else 0.0 for m in metrics]
    else:
        title = "agreement with PyTorch"
        ran = [v for v in report.variants if v.agreement is not None]
        if not ran:
            return None
        names = [v.name for v in ran]
        values = [float(v.agreement or 0.0) * 100 for v in ran]
    figure = Figure(figsize=(7.5, 3.2))
    axes = figure.add_subplot()
    colors = ["#888888" if report.primary_metric and i == 0 else "#2b6cb0" for i in range(len(names))]
    bars = axes.bar(names, values, color=colors)
    for bar, value in zip(bars, values, strict=True):
        axes.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                      va="bottom", fontsize=8)
    low = min(values)
    axes.set_ylim(max(0.0, low - 5), 100.5)
    axes.set_ylabel(f"{title} (%)")
    axes.set_title(f"{title} per variant")
    axes.tick_params(axis="x", labelrotation=15, labelsize=8)
    return _png(figure)
