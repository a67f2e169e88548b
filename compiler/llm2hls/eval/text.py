"""Real English text and tokens for calibration and evaluation.

``pydoc_data.topics`` (the Python reference manual's help topics, shipped with CPython) is the
built-in corpus: topics at even positions (sorted by name) are the calibration part, odd ones the
held-out evaluation part, so a model is never calibrated on the text it is evaluated on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError

PARTS = ("calib", "eval")


def pydoc_text(part: str = "eval") -> str:
    """The calibration (``calib``) or held-out evaluation (``eval``) part of pydoc_data.topics."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}")
    from pydoc_data.topics import topics

    names = sorted(topics)
    keep = names[0::2] if part == "calib" else names[1::2]
    return "\n\n".join(topics[n].strip() for n in keep)


def read_text(path: str | Path) -> str:
    """A UTF-8 text file (``pydoc:calib`` / ``pydoc:eval`` name the built-in corpus parts)."""
    s = str(path)
    if s.startswith("pydoc:"):
        return pydoc_text(s.split(":", 1)[1])
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: no such text file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{p}: not UTF-8 text") from None


def load_tokenizer(model: Any) -> Any:
    """The tokenizer of a HuggingFace folder or a ``.gguf`` file (None for other models)."""
    if not isinstance(model, (str, Path)):
        return None
    p = Path(model)
    if p.suffix == ".gguf":
        from ..frontend.gguf import load_gguf_tokenizer

        return load_gguf_tokenizer(p)
    if p.is_dir() and any((p / f).exists() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt")):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(p))
    return None


def tokenize(tokenizer: Any, text: str, max_tokens: int | None = None) -> np.ndarray:
    """Token ids of ``text`` (no special tokens), at most ``max_tokens``."""
    if tokenizer is None:
        raise UserError("this model has no tokenizer (use a HuggingFace folder with tokenizer files or a .gguf)")
    ids = np.asarray(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)
    return ids[:max_tokens] if max_tokens else ids


def windows(ids: np.ndarray, seq_len: int, max_windows: int | None = None) -> list[np.ndarray]:
    """Consecutive non-overlapping windows of exactly ``seq_len`` tokens (the tail is dropped)."""
    n = len(ids) // seq_len
    if max_windows is not None:
        n = min(n, max_windows)
    if n == 0:
        raise UserError(f"the text has {len(ids)} tokens, fewer than one window of {seq_len}; give more text")
    return [ids[i * seq_len:(i + 1) * seq_len] for i in range(n)]
