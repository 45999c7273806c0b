"""Render a parity report as JUnit XML, so CI systems list each variant as a test case."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from onnx_pipelines.parity.markdown import failure_lines

if TYPE_CHECKING:
    from onnx_pipelines.parity.results import ParityResults


def render_junit(report: ParityResults) -> str:
    """One ``testsuite`` named after the model; one ``testcase`` per variant; failed checks as ``failure``."""
    failures = len(report.failed_variants())
    errors = sum(1 for v in report.variants if v.error)
    suite = ET.Element("testsuite", {
        "name": f"onnx-parity.{report.model['name']}",
        "tests": str(len(report.variants)),
        "failures": str(failures - errors),
        "errors": str(errors),
        "timestamp": report.created,
    })
    for variant in report.variants:
        seconds = variant.timing.seconds if variant.timing else 0.0
        case = ET.SubElement(suite, "testcase", {
            "classname": f"parity.{report.task}", "name": variant.name, "time": f"{seconds:.3f}",
        })
        if variant.error:
            error = ET.SubElement(case, "error", {"message": variant.error[:500], "type": "VariantError"})
            error.text = variant.error
        elif not variant.passed:
            lines = failure_lines(variant)
            failure = ET.SubElement(case, "failure", {"message": "; ".join(lines)[:500], "type": "ParityFailure"})
            failure.text = "\n".join(lines)
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(check.message for check in variant.checks)
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
