"""Tiny transformer factories shared by every test area.

Each factory returns an ``nn.Module`` in eval mode with deterministic random weights (a fixed
seed), small enough to run in milliseconds but with deliberately odd sizes (hidden 40/48, 3 or 5
heads) so that no code path can rely on powers of two. Weights are re-drawn with a larger spread
than the libraries' default init (std 0.02, LayerNorm = identity) so biases, norm gains and
attention patterns are all far from trivial and a wrong lowering shows up as a real error.

``tiny_model_zoo()`` lists ``(name, factory, seq_len)`` for parametrized end-to-end tests.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "HandWrittenDecoder",
    "HandWrittenSDPADecoder",
    "randomize_",
    "tiny_gpt2",
    "tiny_gpt_neox",
    "tiny_llama",
    "tiny_bert",
    "tiny_model_zoo",
    "extended_model_zoo",
]


def randomize_(model: nn.Module, seed: int = 0, std: float = 0.15) -> nn.Module:
    """Re-draw every parameter deterministically; norm gains around 1, everything else ~N(0, std).

    Buffers (masks, rotary inverse frequencies) are left alone. Returns ``model`` in eval mode.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if _is_norm_gain(model, name):
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_(std * noise)
    return model.eval()


def _is_norm_gain(model: nn.Module, param_name: str) -> bool:
    mod_name, _, leaf = param_name.rpartition(".")
    mod = model.get_submodule(mod_name) if mod_name else model
    is_norm = isinstance(mod, nn.LayerNorm) or "norm" in type(mod).__name__.lower()
    return is_norm and leaf == "weight"


# ---- HuggingFace models ----------------------------------------------------------------------
def tiny_gpt2(
    hidden: int = 48,
    heads: int = 3,
    layers: int = 2,
    vocab: int = 97,
    positions: int = 64,
    attn_implementation: str = "sdpa",
    seed: int = 0,
) -> nn.Module:
    """A GPT-2 LM head model (Conv1D weights, tanh-GELU written out, tied lm_head)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(
        n_embd=hidden,
        n_head=heads,
        n_layer=layers,
        vocab_size=vocab,
        n_positions=positions,
        bos_token_id=None,
        eos_token_id=None,
        attn_implementation=attn_implementation,
    )
    torch.manual_seed(seed)
    return randomize_(GPT2LMHeadModel(cfg), seed)


def tiny_gpt_neox(
    hidden: int = 40,
    heads: int = 5,
    layers: int = 2,
    rotary_pct: float = 0.5,
    parallel_residual: bool = True,
    vocab: int = 89,
    positions: int = 64,
    attn_implementation: str = "sdpa",
    seed: int = 1,
) -> nn.Module:
    """A GPT-NeoX (Pythia) causal LM: partial rotary, parallel residual, erf-GELU."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    cfg = GPTNeoXConfig(
        hidden_size=hidden,
        num_attention_heads=heads,
        num_hidden_layers=layers,
        intermediate_size=4 * hidden,
        vocab_size=vocab,
        max_position_embeddings=positions,
        rotary_pct=rotary_pct,
        use_parallel_residual=parallel_residual,
        attn_implementation=attn_implementation,
    )
    torch.manual_seed(seed)
    return randomize_(GPTNeoXForCausalLM(cfg), seed)


def tiny_llama(
    hidden: int = 48,
    heads: int = 6,
    kv_heads: int = 2,
    layers: int = 2,
    intermediate: int = 88,
    vocab: int = 101,
    positions: int = 64,
    attn_implementation: str = "sdpa",
    seed: int = 2,
) -> nn.Module:
    """A Llama causal LM: RMSNorm, SiLU-gated MLP, full rotary, grouped-query attention."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(
        hidden_size=hidden,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        num_hidden_layers=layers,
        intermediate_size=intermediate,
        vocab_size=vocab,
        max_position_embeddings=positions,
        attn_implementation=attn_implementation,
    )
    torch.manual_seed(seed)
    return randomize_(LlamaForCausalLM(cfg), seed)


def tiny_bert(
    hidden: int = 40,
    heads: int = 5,
    layers: int = 2,
    vocab: int = 83,
    positions: int = 64,
    attn_implementation: str = "sdpa",
    seed: int = 3,
) -> nn.Module:
    """A BERT encoder: post-LN blocks, erf-GELU, token-type embeddings; the first output (what
    llm2hls compiles) is ``last_hidden_state``, the pooler is left out of the graph."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(
        hidden_size=hidden,
        num_attention_heads=heads,
        num_hidden_layers=layers,
        intermediate_size=4 * hidden,
        vocab_size=vocab,
        max_position_embeddings=positions,
        attn_implementation=attn_implementation,
    )
    torch.manual_seed(seed)
    return randomize_(BertModel(cfg), seed)


# ---- hand-written decoders -------------------------------------------------------------------
def _gelu_tanh_written_out(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class _Block(nn.Module):
    """Pre-LN decoder block; attention is explicit math or SDPA depending on ``sdpa``."""

    def __init__(self, hidden: int, heads: int, max_len: int, sdpa: bool) -> None:
        super().__init__()
        self.heads, self.head_dim, self.sdpa = heads, hidden // heads, sdpa
        self.ln_1 = nn.LayerNorm(hidden)
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(hidden, hidden)
        self.v_proj = nn.Linear(hidden, hidden)
        self.o_proj = nn.Linear(hidden, hidden)
        self.ln_2 = nn.LayerNorm(hidden)
        self.fc_in = nn.Linear(hidden, 4 * hidden)
        self.fc_out = nn.Linear(4 * hidden, hidden)
        self.gelu = nn.GELU()
        mask = torch.tril(torch.ones(max_len, max_len, dtype=torch.bool))
        self.register_buffer("causal_mask", mask.view(1, 1, max_len, max_len), persistent=False)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

    def attn(self, x: torch.Tensor) -> torch.Tensor:
        b, s, c = x.shape
        q, k, v = self._heads(self.q_proj(x)), self._heads(self.k_proj(x)), self._heads(self.v_proj(x))
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
            mask = self.causal_mask[:, :, :s, :s]
            scores = scores.masked_fill(~mask, float("-inf"))
            y = torch.matmul(torch.softmax(scores, dim=-1), v)
        return self.o_proj(y.transpose(1, 2).reshape(b, s, c))

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc_in(x)
        h = self.gelu(h) if self.sdpa else _gelu_tanh_written_out(h)
        return self.fc_out(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class HandWrittenDecoder(nn.Module):
    """A plain decoder LM written with explicit attention math (no library model code).

    Learned positions, q @ k^T / sqrt(d), causal mask buffer + masked_fill, softmax, @ v, GELU
    written out with tanh/pow, residuals, LayerNorm, lm_head tied to the token embedding.
    """

    sdpa = False

    def __init__(
        self, vocab: int = 61, hidden: int = 48, heads: int = 3, layers: int = 2, max_len: int = 32,
        seed: int = 4,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.wte = nn.Embedding(vocab, hidden)
        self.wpe = nn.Embedding(max_len, hidden)
        self.blocks = nn.ModuleList(_Block(hidden, heads, max_len, self.sdpa) for _ in range(layers))
        self.ln_f = nn.LayerNorm(hidden)
        self.lm_head = nn.Linear(hidden, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        randomize_(self, seed)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.wte(input_ids) + self.wpe(pos)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class HandWrittenSDPADecoder(HandWrittenDecoder):
    """Like :class:`HandWrittenDecoder` but with ``F.scaled_dot_product_attention(is_causal=True)``
    and ``nn.GELU()`` (erf)."""

    sdpa = True


# ---- zoo -------------------------------------------------------------------------------------
Factory = Callable[[], nn.Module]


def tiny_model_zoo() -> list[tuple[str, Factory, int]]:
    """``(name, factory, seq_len)`` for parametrized end-to-end tests (odd sizes on purpose)."""
    return [
        ("gpt2", lambda: tiny_gpt2(), 12),
        ("gpt2_eager_h40", lambda: tiny_gpt2(hidden=40, heads=5, attn_implementation="eager"), 7),
        ("gpt_neox", lambda: tiny_gpt_neox(), 13),
        ("gpt_neox_seq_res", lambda: tiny_gpt_neox(parallel_residual=False, rotary_pct=0.25), 7),
        ("handwritten", lambda: HandWrittenDecoder(), 12),
        ("handwritten_sdpa", lambda: HandWrittenSDPADecoder(hidden=40, heads=5), 13),
    ]


def extended_model_zoo() -> list[tuple[str, Factory, int]]:
    """:func:`tiny_model_zoo` plus Llama (RMSNorm, SiLU-gated MLP, full rotary, GQA) and a BERT
    encoder (its output is ``last_hidden_state``, not ``logits``)."""
    return tiny_model_zoo() + [
        ("llama_gqa", lambda: tiny_llama(), 9),
        ("llama_eager_h40", lambda: tiny_llama(hidden=40, heads=5, kv_heads=1, attn_implementation="eager"), 7),
        ("bert", lambda: tiny_bert(), 11),
    ]
