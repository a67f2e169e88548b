"""The frontend: model (nn.Module, .pt2, trusted .pt, HuggingFace folder) -> torch.export ->
ATen FX graph -> one handler per ATen op -> float llm2hls IR (validated, canonicalized)."""

from .model import ImportedModel, import_model

__all__ = ["ImportedModel", "import_model"]
