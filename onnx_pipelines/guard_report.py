"""What the int8 guard recorded in a built artifact, read back for ``inspect`` and ``--explain``.

Both guards (ONNX Runtime's :mod:`onnx_pipelines.int8_guard` and OpenVINO's
:mod:`onnx_pipelines.openvino_guard`) write the same ``"int8_guard"`` entry into the artifact's manifest; this
module reads it, and computes the ranked sensitivity table on the fp32 parent when the build did not need one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from onnx_pipelines.int8_guard import GuardSession
from onnx_pipelines.sensitivity import NodeSensitivity, QuantizableNode, sensitivity_table


def artifact_sensitivity(folder: Path) -> str:
    """The guard's report and ranked sensitivity table of a built int8 artifact (``inspect --sensitivity``).

    Reads the artifact's ``manifest.json``; when the plain recipe passed (no ranking was needed at build
    time) the ranking is computed now, on the artifact's fp32 parent.

    Raises:
        InvalidModelError: The folder is no int8 artifact built by this library.
    """
    import json

    from onnx_pipelines.config import resolve_quantize
    from onnx_pipelines.errors import InvalidModelError
    from onnx_pipelines.tasks import get_task

    manifest_file = folder / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
    guard = manifest.get("int8_guard")
    parent_dir = Path(manifest.get("parent", ""))
    if not guard or not (parent_dir / "manifest.json").is_file():
        raise InvalidModelError(
            f"{str(folder)!r} holds no int8 artifact built with the int8 guard (no 'int8_guard' in manifest.json). "
            "Build one with: onnx-pipelines export MODEL --task TASK --quantize dynamic (or --runtime openvino "
            "--precision int8 --calibration-data FILE)"
        )
    lines = [manifest_summary(guard)]
    if guard.get("sensitivity"):
        ranked = [NodeSensitivity(QuantizableNode(s["name"], s["op_type"], s["weight"], s["macs_per_token"]),
                                  s["error"], s["values"]) for s in guard["sensitivity"]]
    else:
        parent_manifest = json.loads((parent_dir / "manifest.json").read_text())
        task = get_task(guard["task"])
        session = GuardSession(task, parent_dir / parent_manifest["model_file"], folder)
        if manifest.get("runtime") == "openvino":  # NNCF int8: the same ranking, under OpenVINO op names
            from onnx_pipelines.openvino_guard import openvino_ranking

            ranked, _ = openvino_ranking(session, folder / manifest["model_file"])
        else:
            static = str(manifest.get("quantize", "")).startswith("static")
            _, ranked, _ = session.rank(resolve_quantize("static" if static else "dynamic"))
        lines.append("(ranking computed now: the plain recipe passed, so the build did not need it)")
    lines += ["", sensitivity_table(ranked, guard.get("fp32_nodes", ()))]
    return "\n".join(lines)


def manifest_summary(guard: dict[str, Any]) -> str:
    plain = ", ".join(f"{k} {v:.4f}" for k, v in guard["plain"]["values"].items())
    final = ", ".join(f"{k} {v:.4f}" for k, v in guard["final"]["values"].items())
    nodes = guard.get("fp32_nodes") or []
    kept = (f"{len(nodes)} node(s) kept in fp32 ({guard['fp32_mac_fraction']:.0%} of the quantizable MACs): "
            f"{', '.join(nodes)}" if nodes else "no node kept in fp32")
    return (f"int8 guard: {guard['bound']['measure']} on {guard['rows']} {guard['source']} "
            f"({guard['batching']}); plain recipe: {plain}; kept graph: {final}; {kept}; "
            f"guard time {guard['seconds']:.1f} s")
