"""Look inside an ONNX graph: validity, opset, inputs/outputs, operators, size, quantization."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from onnx_pipelines.errors import CorruptModelError, ModelNotFoundError

#: ONNX operators that only int8 graphs contain (QDQ, dynamic and QOperator formats).
QUANTIZED_OPS = frozenset({
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul",
    "DynamicQuantizeMatMul", "QAttention", "QGemm", "ConvInteger", "QLinearConv", "MatMulIntegerToFloat",
    "QEmbedLayerNormalization",
})


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output: name, element type and shape (symbolic axes by name)."""

    name: str
    dtype: str
    shape: list[int | str]

    @property
    def dynamic_axes(self) -> list[int]:
        return [i for i, dim in enumerate(self.shape) if isinstance(dim, str)]


@dataclass(frozen=True)
class OnnxReport:
    """What :func:`inspect_onnx` found."""

    path: str
    valid: bool
    checker_message: str
    size_bytes: int
    opsets: dict[str, int]
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    operator_counts: dict[str, int]
    node_count: int
    quantized: bool
    quantized_operator_counts: dict[str, int] = field(default_factory=dict)
    producer: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        """A human-readable summary for the CLI."""
        opsets = ", ".join(f"{domain or 'ai.onnx'}={version}" for domain, version in sorted(self.opsets.items()))
        lines = [
            f"file:       {self.path}",
            f"valid:      {'yes' if self.valid else 'NO - ' + self.checker_message}",
            f"size:       {self.size_bytes / 1e6:.1f} MB",
            f"opsets:     {opsets}",
            f"producer:   {self.producer}",
            f"quantized:  {'yes (int8)' if self.quantized else 'no'}",
            f"nodes:      {self.node_count}",
            "inputs:",
            *[f"  {t.name}: {t.dtype}{t.shape}  dynamic axes {t.dynamic_axes}" for t in self.inputs],
            "outputs:",
            *[f"  {t.name}: {t.dtype}{t.shape}  dynamic axes {t.dynamic_axes}" for t in self.outputs],
            "operators:",
            *[f"  {op:<28}{count:>6}" for op, count in sorted(self.operator_counts.items(), key=lambda x: -x[1])],
        ]
        return "\n".join(lines)


def find_onnx_file(path: str | Path) -> Path:
    """``path`` itself if it is a file, else the single / ``model*.onnx`` file in the folder.

    Raises:
        ModelNotFoundError: If nothing is there.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelNotFoundError(f"{str(path)!r} does not exist. Pass an .onnx file or a folder holding one.")
    if path.is_file():
        return path
    candidates = sorted(path.glob("*.onnx"))
    if not candidates:
        raise ModelNotFoundError(f"No .onnx file in {str(path)!r}. Export one first: onnx-pipelines export ...")
    if len(candidates) > 1:
        preferred = [c for c in candidates if c.name == "model.onnx"]
        if not preferred:
            names = ", ".join(c.name for c in candidates)
            raise ModelNotFoundError(f"{str(path)!r} holds several .onnx files ({names}); pass one file.")
        return preferred[0]
    return candidates[0]


def inspect_onnx(path: str | Path) -> OnnxReport:
    """Validate and describe an ONNX graph.

    Args:
        path: An ``.onnx`` file, or a folder holding one (an OpenVINO IR ``.xml``, or a folder holding only
            one, is described by :func:`inspect_openvino`).

    Returns:
        An :class:`OnnxReport`.

    Raises:
        ModelNotFoundError: If the path does not exist.
        CorruptModelError: If the file cannot be parsed at all (a truncated or non-ONNX file).
    """
    import onnx

    ir = _openvino_ir(path)
    if ir is not None:  # issue 15: an NNCF int8 artifact holds OpenVINO IR, not ONNX
        return inspect_openvino(ir)
    file = find_onnx_file(path)
    try:
        model = onnx.load(str(file), load_external_data=False)
    except Exception as e:  # protobuf DecodeError and friends
        raise CorruptModelError(
            f"{str(file)!r} cannot be parsed as ONNX ({type(e).__name__}); it is truncated or not an ONNX "
            "file. Export it again."
        ) from e
    try:
        onnx.checker.check_model(str(file))
        valid, message = True, "ok"
    except Exception as e:  # onnx.checker.ValidationError, or a parse error of a partial file
        valid, message = False, str(e).splitlines()[0][:300]
    ops = Counter(node.op_type for node in model.graph.node)
    quantized_ops = {op: n for op, n in ops.items() if op in QUANTIZED_OPS}
    return OnnxReport(
        path=str(file),
        valid=valid,
        checker_message=message,
        size_bytes=file.stat().st_size,
        opsets={imp.domain: imp.version for imp in model.opset_import},
        inputs=[_tensor_info(t) for t in model.graph.input],
        outputs=[_tensor_info(t) for t in model.graph.output],
        operator_counts=dict(ops),
        node_count=len(model.graph.node),
        quantized=bool(quantized_ops),
        quantized_operator_counts=quantized_ops,
        producer=f"{model.producer_name} {model.producer_version}".strip(),
    )


def _openvino_ir(path: str | Path) -> Path | None:
    path = Path(path).expanduser()
    if path.is_file():
        return path if path.suffix == ".xml" else None
    if path.is_dir() and not any(path.glob("*.onnx")):
        irs = sorted(path.glob("*.xml"))
        return irs[0] if len(irs) == 1 else None
    return None


def inspect_openvino(file: Path) -> OnnxReport:
    """Describe an OpenVINO IR (``.xml`` + ``.bin``, e.g. an NNCF int8 artifact) in the same report.

    ``valid`` says whether OpenVINO reads it and infers its types; ``quantized`` whether it has
    ``FakeQuantize`` ops, and ``quantized_operator_counts`` counts the ops that read int8 values.

    Raises:
        ProviderUnavailableError: openvino is not installed.
    """
    from onnx_pipelines.openvino_guard import quantized_ops
    from onnx_pipelines.openvino_runner import import_openvino

    openvino = import_openvino()
    try:
        model = openvino.Core().read_model(str(file))
        model.validate_nodes_and_infer_types()
        valid, message = True, "ok"
    except Exception as e:  # OpenVINO raises RuntimeError subclasses on unreadable or inconsistent IR
        return OnnxReport(str(file), False, str(e).splitlines()[0][:300], file.stat().st_size, {}, [], [], {}, 0,
                          False, producer="OpenVINO IR")
    ops = Counter(op.get_type_name() for op in model.get_ops())
    weights = file.with_suffix(".bin")
    int8 = Counter(quantized_ops(file).values()) if ops.get("FakeQuantize") else Counter()

    def info(port: Any) -> TensorInfo:
        shape: list[int | str] = [d.get_length() if d.is_static else "?" for d in port.get_partial_shape()]
        return TensorInfo(port.get_any_name(), str(port.get_element_type().get_type_name()), shape)

    return OnnxReport(
        path=str(file), valid=valid, checker_message=message,
        size_bytes=file.stat().st_size + (weights.stat().st_size if weights.is_file() else 0),
        opsets={}, inputs=[info(p) for p in model.inputs], outputs=[info(p) for p in model.outputs],
        operator_counts=dict(ops), node_count=len(model.get_ops()), quantized=bool(ops.get("FakeQuantize")),
        quantized_operator_counts=dict(int8), producer=f"OpenVINO IR ({openvino.__version__})",
    )


def _tensor_info(value: Any) -> TensorInfo:
    import onnx

    tensor_type = value.type.tensor_type
    dims: list[int | str] = [d.dim_param or d.dim_value for d in tensor_type.shape.dim]
    return TensorInfo(name=value.name, dtype=onnx.TensorProto.DataType.Name(tensor_type.elem_type).lower(), shape=dims)
