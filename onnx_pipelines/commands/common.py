"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from onnx_pipelines.config import CPU_ISAS, OPTIMIZATION_LEVELS, QUANTIZE_MODES
from onnx_pipelines.errors import InvalidConfigError
from onnx_pipelines.tasks import supported_tasks


def add_task_option(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "--task", required=required, metavar="TASK",
        help=f"what the model does: {', '.join(supported_tasks())}",
    )


def add_variant_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--optimize", choices=OPTIMIZATION_LEVELS, metavar="LEVEL",
        help="graph optimization level: O1 (basic fusions), O2 (+ transformer fusions), "
        "O3 (+ GELU approximation), O4 (+ fp16, GPU only)",
    )
    parser.add_argument(
        "--quantize", choices=QUANTIZE_MODES, metavar="MODE",
        help="int8 quantization: dynamic (no data needed) or static (needs --calibration-data)",
    )


def add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", default="auto",
                        help="ONNX Runtime provider: auto (CUDA if available, else CPU), cpu, cuda (default: auto)")
    parser.add_argument("--runtime", default="onnxruntime", choices=("onnxruntime", "openvino"),
                        help="what runs the exported graph: onnxruntime (default) or openvino (the [openvino] extra; "
                        "reads the plain fp32 export, so no --optimize/--quantize)")
    parser.add_argument("--precision", default=None, choices=("fp32", "bf16", "int8", "int8-plain"),
                        help="fp32, bf16 (openvino, CPUs with AVX512-BF16/AMX) or int8 (onnxruntime: dynamic "
                        "unless --quantize; openvino: NNCF on --calibration-data, with the int8 guard); "
                        "int8-plain: the same int8 without the guard")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="ONNX Runtime intra-op threads (default: one per physical core)")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="artifact cache (default: $ONNX_PIPELINES_CACHE or ~/.cache/onnx-pipelines)")


def check_isa(value: str | None) -> None:
    if value is not None and value not in CPU_ISAS:
        raise InvalidConfigError(f"--isa {value!r} is not valid; use one of {', '.join(CPU_ISAS)}.")


class StepPrinter:
    """Prints ``[mm:ss] message`` lines to stderr, so long steps show progress without polluting stdout."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        minutes, seconds = divmod(round(time.perf_counter() - self.started, 1), 60)  # never "[06:60.0]"
        print(f"[{int(minutes):02d}:{seconds:04.1f}] {message} ...", file=sys.stderr, flush=True)


def copy_folder_atomically(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` through a temporary sibling, so ``dst`` is never half-written."""
    dst = dst.expanduser().resolve()
    if dst.exists() and any(dst.iterdir()):
        raise InvalidConfigError(f"--output {str(dst)!r} exists and is not empty; choose a new folder.")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}-", dir=dst.parent))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        if dst.exists():
            dst.rmdir()
        tmp.replace(dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
