"""Performance, power and roofline model of LLM accelerators (issue 6); see docs/performance.md."""

from .model import (
    Design,
    MemoryModel,
    Operating,
    Performance,
    StageCycles,
    evaluate,
    predict_stage_cycles,
)
from .workload import (
    PRESETS,
    ModelShape,
    Scheme,
    Stage,
    Workload,
    load_shape,
    preset,
    shape_from_config,
    stage_work,
    stages_from_graph,
    stages_from_shape,
    totals,
)

__all__ = [
    "Design", "MemoryModel", "Operating", "Performance", "StageCycles", "evaluate",
    "predict_stage_cycles", "PRESETS", "ModelShape", "Scheme", "Stage", "Workload", "load_shape",
    "preset", "shape_from_config", "stage_work", "stages_from_graph", "stages_from_shape", "totals",
]
