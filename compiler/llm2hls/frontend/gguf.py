"""GGUF model files (llama.cpp's format), loaded through transformers' GGUF support.

transformers de-quantizes every tensor to float32 (``from_pretrained(dir, gguf_file=...)``, which
needs the ``gguf`` and ``accelerate`` packages: ``pip install llm2hls[real]``). The float weights
then keep the GGUF quantization grid (e.g. Q4_1: 32-weight blocks with a scale and a minimum).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .load import LoadedModel, _first_line, _is_hf_causal, _max_positions


def _need_packages() -> None:
    import importlib.util

    missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"loading a .gguf file needs the packages {', '.join(missing)}: pip install gguf accelerate")


def load_gguf(path: Path, name: str) -> LoadedModel:
    """Load a ``.gguf`` file as a float HuggingFace model (causal LMs get their LM head)."""
    _need_packages()
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise UserError(f"{path}: not a GGUF file (no GGUF magic); is it truncated or another format?")
    from transformers import AutoModel, AutoModelForCausalLM

    last: Exception | None = None
    for auto in (AutoModelForCausalLM, AutoModel):
        try:
            model = auto.from_pretrained(str(path.parent), gguf_file=path.name)
        except Exception as e:  # noqa: BLE001 - transformers raises many kinds for unknown archs
            last = e
            continue
        return LoadedModel(name=name, module=model.eval(), causal_lm=_is_hf_causal(model),
                           max_positions=_max_positions(model))
    raise UserError(f"{path}: transformers cannot load this GGUF file ({_first_line(last)})")


def load_gguf_tokenizer(path: Path):
    """The tokenizer stored in a ``.gguf`` file."""
    _need_packages()
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{path}: cannot read its tokenizer ({_first_line(e)})") from None
