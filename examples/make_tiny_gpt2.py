"""Write the bundled example model: a tiny GPT-2 (random weights) as a Hugging Face folder.

Usage: python examples/make_tiny_gpt2.py OUT_DIR
"""

import sys

import torch
from transformers import GPT2Config, GPT2LMHeadModel


def main(out_dir: str) -> None:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=97, n_positions=64, n_embd=48, n_layer=2, n_head=3, tie_word_embeddings=True,
        bos_token_id=0, eos_token_id=0,
    )
    model = GPT2LMHeadModel(config).eval()
    model.save_pretrained(out_dir)
    print(f"wrote tiny GPT-2 ({sum(p.numel() for p in model.parameters())} parameters) to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/tiny-gpt2")
