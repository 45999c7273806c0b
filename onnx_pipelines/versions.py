"""Installed library versions: the one probe behind cache keys, reports, the benchmark and ``/info``."""

from __future__ import annotations

from collections.abc import Iterable

#: This library's version (``onnx_pipelines.__version__``; pyproject.toml says the same). It lives here, at
#: the bottom of the import graph, so reports and the CLI read it without importing the whole package.
__version__ = "0.1.0"

#: Libraries whose versions change what an export, optimization or quantization produces (cache keys).
BUILD_LIBRARIES: tuple[str, ...] = (
    "optimum", "optimum-onnx", "onnxruntime", "onnxruntime-gpu", "onnx", "transformers", "torch",
)

#: Libraries a report (benchmark, serving ``/info``) names next to its results.
REPORTED_LIBRARIES: tuple[str, ...] = (
    "onnx-pipelines", "onnxruntime", "onnxruntime-gpu", "optimum", "optimum-onnx", "transformers", "torch",
)


def library_versions(names: Iterable[str] = BUILD_LIBRARIES) -> dict[str, str]:
    """The installed version of each named distribution; names that are not installed are left out.

    Args:
        names: Distribution names as pip spells them (``onnxruntime-gpu``, ``optimum-onnx``).

    Example:
        >>> "onnxruntime" in library_versions(("onnxruntime", "surely-not-installed"))
        True
    """
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


__all__ = ["BUILD_LIBRARIES", "REPORTED_LIBRARIES", "library_versions"]
