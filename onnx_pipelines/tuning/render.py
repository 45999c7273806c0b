"""Renderings of a tune run's results (:class:`~onnx_pipelines.tuning.result.TuneResults`): Markdown, HTML,
and the Pareto plot (PNG)."""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onnx_pipelines.tuning.result import TuneResults

HEADER = ["candidate", "tuning agreement", "tuning Δ pts", "held-out agreement", "held-out Δ pts",
          "batch-1 ms", "× PyTorch b1", "× PyTorch batch", "texts/s batch", "fp32 nodes", "verdict"]


def _num(value: Any, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _verdict(row: dict[str, Any]) -> str:
    if row["error"]:
        return "failed: " + str(row["error"]).splitlines()[0][:80]
    parts = []
    if row["winner"]:
        parts.append("**winner**")
    if row["pareto"]:
        parts.append("Pareto")
    if row["holdout_passed"] is False:
        parts.append("fails held-out")
    elif not row["tuning_passed"]:
        parts.append("fails bounds")
    elif not parts:
        parts.append("meets bounds")
    return ", ".join(parts)


def table_rows(result: TuneResults) -> list[list[str]]:
    """The cells of the candidates table, fastest first (by batch-1 speed-up)."""
    rows = sorted(result.rows(), key=lambda r: -(r["speedup_b1"] or 0.0))
    return [[r["candidate"], _num(r["tuning_agreement"], ".4f"), _num(r["tuning_delta_points"], "+.2f"),
             _num(r["holdout_agreement"], ".4f"), _num(r["holdout_delta_points"], "+.2f"), _num(r["b1_ms"], ".1f"),
             _num(r["speedup_b1"], ".2f"), _num(r["speedup_batch"], ".2f"), _num(r["throughput_per_s"], ".1f"),
             str(r["fp32_nodes"]), _verdict(r)] for r in rows]


def headline(result: TuneResults) -> str:
    """One line: the winner and its numbers, or that nothing met the bounds."""
    bounds = result.bounds
    if result.winner is None:
        return (f"tune: no candidate met max metric drop {bounds['max_metric_drop']} pts and agreement >= "
                f"{bounds['min_agreement']} on both splits")
    winner = result.candidate(result.winner)
    speed = f"{winner.speedup:.2f}x PyTorch at batch 1" if winner.speedup else "untimed"
    return f"tune: {winner.name} ({winner.variant}), {speed}, meets the bounds on the tuning and held-out splits"


def _header_lines(result: TuneResults) -> list[str]:
    timing = next((c.timing for c in result.candidates if c.timing), None)
    settings = (timing or {}).get("settings") or {}
    machine = result.machine
    lines = [
        f"- model `{result.model}`, task {result.task}, data `{result.dataset}`: "
        f"{result.splits.get('calibration', 0)} calibration / {result.splits['tuning']} tuning / "
        f"{result.splits['holdout']} held-out rows",
        f"- bounds: {result.primary_metric or 'no metric'} drop <= {result.bounds['max_metric_drop']} points, "
        f"agreement with PyTorch >= {result.bounds['min_agreement']}",
    ]
    if settings:
        lines.append(f"- timing: {settings['seq_len']} tokens at batch 1 and batch {settings['batch_size']}, "
                     f"{settings['rounds']} alternating rounds x {settings['repeats']} calls (batch 1), each "
                     "candidate in its own process beside one PyTorch process; × = PyTorch time / candidate time")
    if machine:
        lines.append(f"- machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, load average "
                     f"{machine.get('load_average_before')} before, {machine.get('load_average_after')} after; "
                     f"{result.seconds:.0f} s")
    return lines


def render_markdown(result: TuneResults) -> str:
    """``tune.md``: the headline, the setup, the candidates table, and the notes."""
    lines = [f"# {headline(result)}", "", *_header_lines(result), "", "| " + " | ".join(HEADER) + " |",
             "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(result)]
    if result.recipe:
        lines += ["", f"Recipe: `{result.recipe}` (`load_pipeline(recipe=...)`, `serve --recipe`, "
                  "`parity --variants recipe:...`)."]
    if result.skipped:
        lines += ["", f"Not tried (time budget): {', '.join(result.skipped)}."]
    if result.notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in result.notes]]
    return "\n".join(lines) + "\n"


def html_table(result: TuneResults) -> str:
    """The candidates table as an HTML fragment (what Jupyter shows for a tune result)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{escape(cell.replace('**', ''))}</td>" for cell in row) + "</tr>"
                   for row in table_rows(result))
    return (f"<p><b>{escape(headline(result))}</b></p><table border='1' class='dataframe'>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def render_html(result: TuneResults, plot_png: bytes | None = None) -> str:
    """``tune.html``: a self-contained page (the plot embedded when given or when matplotlib is installed)."""
    png = plot_png if plot_png is not None else pareto_png(result)
    parts = [html_table(result), "<ul>" + "".join(f"<li>{escape(line[2:])}</li>" for line in _header_lines(result))
             + "</ul>"]
    if png:
        parts.append(f"<img alt='speed vs metric drop' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    if result.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in result.notes) + "</ul>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(headline(result))}</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px}</style></head><body>"
            f"{''.join(parts)}</body></html>\n")


def pareto_png(result: TuneResults) -> bytes | None:
    """Speed-up at batch 1 against the tuning metric drop (left; the Pareto front joined, the winner ringed) and
    against the disagreement with PyTorch (right), each with its bound; ``None`` without matplotlib (the
    ``[plot]`` extra) or without timed candidates."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    from onnx_pipelines.tuning.result import _loss

    timed = [c for c in result.candidates if c.speedup is not None and c.tuning is not None]
    if not timed:
        return None
    front = set(result.pareto_front())
    figure = Figure(figsize=(11, 4.2))
    FigureCanvasAgg(figure)
    agreement_bound = 100 * (1 - result.bounds["min_agreement"])
    panels = [(_loss, f"{result.primary_metric or 'disagreement'} drop on the tuning split (points)",
               result.bounds["max_metric_drop"] if result.primary_metric else agreement_bound),
              (lambda c: 100 * (1 - (c.tuning.agreement if c.tuning and c.tuning.agreement is not None else 1.0)),
               "rows predicted unlike PyTorch on the tuning split (%)", agreement_bound)]
    for index, (x_of, label, bound) in enumerate(panels):
        axes = figure.add_subplot(1, 2, index + 1)
        for c in timed:
            ok = c.tuning is not None and c.tuning.passed
            axes.scatter(x_of(c), c.speedup or 0.0, marker="o" if ok else "x", color="tab:blue" if ok else "tab:red")
            axes.annotate(c.name, (x_of(c), c.speedup or 0.0), fontsize=7, xytext=(4, 3), textcoords="offset points")
        if index == 0:
            points = sorted((x_of(c), c.speedup or 0.0) for c in timed if c.name in front)
            axes.plot([p[0] for p in points], [p[1] for p in points], color="tab:green", linewidth=1,
                      label="Pareto front")
        if result.winner is not None:
            w = result.candidate(result.winner)
            axes.scatter(x_of(w), w.speedup or 0.0, s=220, facecolors="none", edgecolors="black", label="winner")
        axes.axvline(bound, color="grey", linestyle="--", linewidth=1, label="bound")
        axes.set_xlabel(label)
        axes.set_ylabel("speed-up over PyTorch, batch 1")
        axes.legend(fontsize=7)
        axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def write_outputs(result: TuneResults, out_dir: Path) -> dict[str, Path]:
    """Write ``tune.json``, ``tune.md``, ``tune.html`` and ``tune.png`` (when matplotlib is installed)."""
    from onnx_pipelines.recipes import write_text_atomically

    paths = {"json": out_dir / "tune.json", "markdown": out_dir / "tune.md", "html": out_dir / "tune.html"}
    png = pareto_png(result)
    write_text_atomically(paths["json"], result.to_json() + "\n")
    write_text_atomically(paths["markdown"], render_markdown(result))
    write_text_atomically(paths["html"], render_html(result, png))
    if png:
        paths["plot"] = out_dir / "tune.png"
        paths["plot"].write_bytes(png)
    return paths
