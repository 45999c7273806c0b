"""Write a parity run's results to disk: ``parity.json``, ``parity.md``, ``parity.html`` and JUnit XML."""

from __future__ import annotations

from pathlib import Path

from onnx_pipelines.parity.html import render_html
from onnx_pipelines.parity.junit import render_junit
from onnx_pipelines.parity.markdown import render_markdown
from onnx_pipelines.parity.results import ParityResults


def write_report(results: ParityResults, report_dir: str | Path, *, junit: str | Path | None = None) -> dict[str, Path]:
    """Write ``parity.json``, ``parity.md`` and ``parity.html`` into ``report_dir`` (and JUnit XML).

    Args:
        results: What the evaluation measured.
        report_dir: Folder to write into (created when missing).
        junit: Where to write JUnit XML as well (a file path), or ``None``.

    Returns:
        The written paths by format (``json``, ``markdown``, ``html``, ``junit``).
    """
    folder = Path(report_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "parity.json", "markdown": folder / "parity.md", "html": folder / "parity.html"}
    paths["json"].write_text(results.to_json() + "\n")
    paths["markdown"].write_text(render_markdown(results))
    paths["html"].write_text(render_html(results))
    if junit is not None:
        paths["junit"] = Path(junit).expanduser()
        paths["junit"].parent.mkdir(parents=True, exist_ok=True)
        paths["junit"].write_text(render_junit(results))
    return paths


__all__ = ["render_html", "render_junit", "render_markdown", "write_report"]
