"""Bad inputs give one-line user errors that say what is wrong and where."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from models import HandWrittenSDPADecoder, tiny_gpt2

from llm2hls.errors import UnsupportedOpError, UserError
from llm2hls.frontend import import_model


def _one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such file") as e:
        import_model(tmp_path / "nope.pt2")
    assert "nope.pt2" in _one_line(e)


@pytest.fixture(scope="module")
def pt2_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("pt2") / "m.pt2"
    model = HandWrittenSDPADecoder(hidden=40, heads=5, layers=1)
    with torch.no_grad():
        ep = torch.export.export(model, (torch.zeros(1, 4, dtype=torch.int64),), strict=False)
    torch.export.save(ep, str(path))
    return path.read_bytes()


@pytest.mark.parametrize("damage", ["truncated", "random"])
def test_damaged_pt2(tmp_path, pt2_bytes, damage):
    data = pt2_bytes[: len(pt2_bytes) // 2] if damage == "truncated" else os.urandom(4096)
    path = tmp_path / f"{damage}.pt2"
    path.write_bytes(data)
    with pytest.raises(UserError, match="not a valid .pt2") as e:
        import_model(path)
    assert f"{damage}.pt2" in _one_line(e)


class _Marker:
    """Unpickling this creates a file: proof that the pickle's code ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_untrusted_pickle_is_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps(_Marker(str(marker))))
    with pytest.raises(UserError, match="--trust-pickle") as e:
        import_model(path)
    assert "evil.pt" in _one_line(e) and "arbitrary code" in str(e.value)
    assert not marker.exists()


def test_trusted_pickle_of_non_model(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, str(path))
    with pytest.raises(UserError, match="state_dict"):
        import_model(path, trust_pickle=True)


def test_folder_without_config(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        import_model(tmp_path)


def test_folder_with_unknown_architecture(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no_such_arch", "architectures": ["NoSuchForCausalLM"]}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(UserError) as e:
        import_model(tmp_path)
    assert "unknown model type 'no_such_arch'" in _one_line(e) and str(tmp_path) in str(e.value)


def test_unknown_suffix(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"x")
    with pytest.raises(UserError, match="unknown model format"):
        import_model(path)


@pytest.mark.parametrize("seq_len", [0, -3, 65])
def test_nonsensical_seq_len(seq_len):
    with pytest.raises(UserError, match="seq-len") as e:
        import_model(tiny_gpt2(hidden=40, heads=5, layers=1, positions=64), seq_len=seq_len)
    _one_line(e)


class _SortsActivations(torch.nn.Module):
    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op
        self.emb = torch.nn.Embedding(11, 8)
        self.inner = torch.nn.Sequential(torch.nn.Linear(8, 8))

    def forward(self, ids):
        x = self.inner(self.emb(ids))
        if self.op == "sort":
            x = torch.sort(x, dim=-1).values
        else:
            x = torch.cumsum(x, dim=1)
        return x


@pytest.mark.parametrize("op", ["sort", "cumsum"])
def test_unsupported_op_names_op_node_and_module(op):
    with pytest.raises(UnsupportedOpError) as e:
        import_model(_SortsActivations(op), seq_len=5)
    msg = _one_line(e)
    assert f"aten.{op}" in msg and e.value.aten_op.startswith(f"aten.{op}")
    assert e.value.node in msg and e.value.node.startswith(op)
    assert e.value.module_path == ""  # the op sits in the top-level forward
