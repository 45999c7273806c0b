"""Per-task parity adapters, found through the task registry.

A task's :class:`~onnx_pipelines.parity.adapters.base.TaskAdapter` class is named by its registry entry
(``TaskSpec.parity_adapter`` in :data:`onnx_pipelines.tasks.TASKS`) and imported on first use. Adding a
task to parity means writing one adapter module (attributes plus the hooks that differ) and naming it in
the task's registry entry. :func:`register_adapter` replaces a task's adapter from your own code:
:data:`ADAPTERS` holds those replacements (empty unless you register one).
"""

from __future__ import annotations

from onnx_pipelines.errors import UnsupportedTaskError
from onnx_pipelines.parity.adapters.base import (
    AdapterContext,
    MetricSpec,
    OutputSpec,
    Predictions,
    TaskAdapter,
)
from onnx_pipelines.tasks import TASKS, get_task, load_object

#: Adapters registered with :func:`register_adapter`, by task name; they take precedence over the registry's.
ADAPTERS: dict[str, str | type[TaskAdapter]] = {}


def register_adapter(task: str, adapter: str | type[TaskAdapter]) -> None:
    """Register the adapter class (or its dotted path) for ``task``, replacing any previous one.

    Args:
        task: A task name of the task registry.
        adapter: A :class:`TaskAdapter` subclass or ``"package.module.ClassName"``.
    """
    ADAPTERS[get_task(task).name] = adapter


def get_adapter(task: str) -> TaskAdapter:
    """An instance of the adapter registered for ``task`` (aliases accepted).

    Raises:
        UnsupportedTaskError: The task is unknown, or parity has no adapter for it yet; the message lists
            the tasks parity supports.
    """
    spec = get_task(task)
    entry = ADAPTERS.get(spec.name, spec.parity_adapter)
    if entry is None:
        raise UnsupportedTaskError(
            f"Parity has no adapter for task {spec.name!r} yet. Tasks parity can evaluate: {', '.join(parity_tasks())}."
        )
    adapter_class = load_object(entry) if isinstance(entry, str) else entry
    return adapter_class()


def parity_tasks() -> list[str]:
    """Tasks with a parity adapter (in the task registry, or registered), sorted."""
    return sorted({name for name, spec in TASKS.items() if spec.parity_adapter is not None} | set(ADAPTERS))


__all__ = [
    "ADAPTERS",
    "AdapterContext",
    "MetricSpec",
    "OutputSpec",
    "Predictions",
    "TaskAdapter",
    "get_adapter",
    "parity_tasks",
    "register_adapter",
]
