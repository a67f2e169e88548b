"""Load a model from an ``nn.Module``, a ``.pt2`` (torch.export), a trusted ``.pt`` (torch.save of
a module) or a HuggingFace model folder (``config.json`` + ``*.safetensors``).

Every problem with the user's file is reported as one :class:`~llm2hls.errors.UserError` line
naming the file and what is wrong with it.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UserError

PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".pkl", ".ckpt")
CAUSAL_ARCH_SUFFIXES = ("ForCausalLM", "LMHeadModel")
MAX_POSITION_ATTRS = ("max_position_embeddings", "n_positions", "max_len", "max_seq_len", "block_size")


@dataclass
class LoadedModel:
    """A model ready for capture: either a module or an already exported program."""

    name: str
    module: nn.Module | None = None
    program: torch.export.ExportedProgram | None = None
    causal_lm: bool = False  # a HuggingFace causal LM (export with use_cache=False)
    max_positions: int | None = None


def clean_name(text: str) -> str:
    """A C-identifier-like model name (used for ``hls_out/<name>``)."""
    name = re.sub(r"\W+", "_", text).strip("_") or "model"
    return "m_" + name if name[0].isdigit() else name


def load_model(model_or_path: Any, trust_pickle: bool = False, name: str | None = None) -> LoadedModel:
    """Load ``model_or_path`` (see module docstring) without running untrusted code."""
    if isinstance(model_or_path, nn.Module):
        module = model_or_path.eval()
        return LoadedModel(
            name=clean_name(name or type(module).__name__),
            module=module,
            causal_lm=_is_hf_causal(module),
            max_positions=_max_positions(module),
        )
    if isinstance(model_or_path, torch.export.ExportedProgram):
        return LoadedModel(name=clean_name(name or "model"), program=model_or_path)
    if not isinstance(model_or_path, (str, Path)):
        raise UserError(f"cannot load a model from a {type(model_or_path).__name__}; pass a path or an nn.Module")
    path = Path(model_or_path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    default_name = clean_name(name or (path.name if path.is_dir() else path.stem))
    if path.is_dir():
        return _load_hf_folder(path, default_name)
    if path.suffix == ".gguf":
        from .gguf import load_gguf

        return load_gguf(path, default_name)
    if path.suffix == ".pt2":
        return LoadedModel(name=default_name, program=_load_pt2(path))
    if path.suffix in PICKLE_SUFFIXES:
        module = _load_pickle(path, trust_pickle)
        return LoadedModel(
            name=default_name, module=module, causal_lm=_is_hf_causal(module),
            max_positions=_max_positions(module),
        )
    raise UserError(
        f"{path}: unknown model format '{path.suffix}'; use a .pt2 (torch.export.save), "
        "a .pt (torch.save of a model) or a HuggingFace model folder"
    )


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _load_pt2(path: Path) -> torch.export.ExportedProgram:
    if not zipfile.is_zipfile(path):
        raise UserError(
            f"{path}: not a valid .pt2 archive (not a zip file; truncated or corrupt?); "
            "re-create it with torch.export.save"
        )
    try:
        return torch.export.load(str(path))
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a damaged archive
        raise UserError(f"{path}: cannot read the .pt2 archive ({_first_line(e)}); re-create it with torch.export.save") from None


def _load_pickle(path: Path, trust_pickle: bool) -> nn.Module:
    if not trust_pickle:
        raise UserError(
            f"{path}: refusing to unpickle it, because loading a torch.save'd model runs arbitrary "
            "code stored in the file; pass --trust-pickle if you trust this file "
            "(or export the model to .pt2 with torch.export.save)"
        )
    if not zipfile.is_zipfile(path):
        # torch.save has written zip archives since 1.6; anything else is damaged or foreign.
        raise UserError(f"{path}: not a torch.save archive (not a zip file; truncated or corrupt?)")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{path}: cannot load it with torch.load ({_first_line(e)})") from None
    if isinstance(obj, dict):
        raise UserError(
            f"{path}: holds a state_dict (weights only), not a model; save the module itself "
            "(torch.save(model)) or export it to .pt2"
        )
    if not isinstance(obj, nn.Module):
        raise UserError(f"{path}: holds a {type(obj).__name__}, not a torch.nn.Module")
    return obj.eval()


def _load_hf_folder(path: Path, name: str) -> LoadedModel:
    config_file = path / "config.json"
    if not config_file.is_file():
        raise UserError(f"{path}: folder has no config.json; expected a HuggingFace model folder (save_pretrained)")
    if not list(path.glob("*.safetensors")):
        raise UserError(f"{path}: folder has no *.safetensors weights; save them with save_pretrained(safe_serialization=True)")
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (ValueError, AttributeError) as e:
        raise UserError(f"{config_file}: not a valid JSON config ({_first_line(e)})") from None
    try:
        config = AutoConfig.from_pretrained(str(path))
    except Exception as e:  # noqa: BLE001
        if model_type and "model type" in str(e):
            raise UserError(
                f"{config_file}: unknown model type '{model_type}' (transformers does not know this architecture)"
            ) from None
        raise UserError(f"{config_file}: cannot read the model config ({_first_line(e)})") from None
    archs = list(getattr(config, "architectures", None) or [])
    causal = any(a.endswith(CAUSAL_ARCH_SUFFIXES) for a in archs)
    auto = AutoModelForCausalLM if causal else AutoModel
    try:
        model, info = auto.from_pretrained(str(path), output_loading_info=True)
    except Exception as e:  # noqa: BLE001
        raise UserError(
            f"{path}: cannot build model type '{getattr(config, 'model_type', '?')}' "
            f"(architectures {archs or 'not given'}): {_first_line(e)}"
        ) from None
    missing = [k for k in info.get("missing_keys", []) if k]
    if missing:
        raise UserError(f"{path}: the weights lack {len(missing)} tensors (e.g. {missing[0]}); the folder is incomplete")
    return LoadedModel(name=name, module=model.eval(), causal_lm=causal, max_positions=_max_positions(model))


def _is_hf_causal(module: nn.Module) -> bool:
    archs = getattr(getattr(module, "config", None), "architectures", None) or []
    return type(module).__name__.endswith(CAUSAL_ARCH_SUFFIXES) or any(a.endswith(CAUSAL_ARCH_SUFFIXES) for a in archs)


def _max_positions(module: nn.Module) -> int | None:
    for holder in (getattr(module, "config", None), module):
        for attr in MAX_POSITION_ATTRS:
            v = getattr(holder, attr, None)
            if isinstance(v, int) and v > 0:
                return v
    return None
