"""``llm2hls compile``: --json summary with the C simulation result, and user errors (exit 2)."""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner
from models import HandWrittenDecoder

from llm2hls.cli import main

SEQ = 12


def test_compile_pt2_json(tmp_path):
    model = HandWrittenDecoder().eval()
    ids = torch.zeros(1, SEQ, dtype=torch.long)
    with torch.no_grad():
        torch.export.save(torch.export.export(model, (ids,)), tmp_path / "hw.pt2")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["compile", str(tmp_path / "hw.pt2"), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["csim"]["mismatches"] == 0 and summary["csim"]["passed"]
    assert summary["stages"] >= 5 and summary["parameters"] > 0
    assert summary["quant"]["scheme"] == "w8a16"
    assert (out / "README.md").exists() and (out / "report.md").exists()
    assert "C simulation: PASS" in res.stderr


def test_user_error_exit_2(tmp_path):
    bad = tmp_path / "nope.pt2"
    bad.write_text("not a zip")
    res = CliRunner().invoke(main, ["compile", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "llm2hls: error:" in res.stderr and not (tmp_path / "o").exists()


def test_bad_scheme_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["compile", "x.pt2", "--quant", "int3"])
    assert res.exit_code == 2 and "unknown quantization scheme" in res.stderr


def _tiny_gpt2_files(tmp_path):
    """The same tiny GPT-2 as an HF folder, a trusted .pt and a .pt2, all named ``tiny``."""
    from models import tiny_gpt2

    model = tiny_gpt2()
    model.save_pretrained(tmp_path / "hf" / "tiny")
    torch.save(model, tmp_path / "tiny.pt")
    with torch.no_grad():
        ep = torch.export.export(model, (torch.zeros(1, SEQ, dtype=torch.long),), kwargs={"use_cache": False})
    (tmp_path / "pt2").mkdir()
    torch.export.save(ep, tmp_path / "pt2" / "tiny.pt2")
    return {
        "hf": [str(tmp_path / "hf" / "tiny"), "--seq-len", str(SEQ)],
        "pt": [str(tmp_path / "tiny.pt"), "--trust-pickle", "--seq-len", str(SEQ)],
        "pt2": [str(tmp_path / "pt2" / "tiny.pt2")],
    }


def test_every_loader_gives_the_same_bit_exact_project(tmp_path):
    sources = {}
    for kind, args in _tiny_gpt2_files(tmp_path).items():
        out = tmp_path / f"out_{kind}"
        res = CliRunner().invoke(main, ["compile", *args, "--out", str(out), "--json"])
        assert res.exit_code == 0, (kind, res.output)
        summary = json.loads(res.stdout)
        assert summary["csim"]["passed"] and summary["csim"]["mismatches"] == 0, kind
        assert summary["csim"]["elements"] == SEQ * 97
        sources[kind] = (out / "src" / "tiny.cpp").read_text()
    # One model, three containers: the frontend must lower them to the same design.
    assert sources["hf"] == sources["pt"] == sources["pt2"]


def _bad_inputs(tmp_path):
    """(arguments, expected words in the error) for each kind of bad input."""
    files = _tiny_gpt2_files(tmp_path)
    good_pt2 = tmp_path / "pt2" / "tiny.pt2"
    truncated = tmp_path / "truncated.pt2"
    truncated.write_bytes(good_pt2.read_bytes()[: good_pt2.stat().st_size // 2])
    noise = tmp_path / "noise.pt2"
    noise.write_bytes(bytes(range(256)) * 40)

    class Sorts(torch.nn.Module):
        def forward(self, x):
            return torch.sort(x, dim=-1).values

    with torch.no_grad():
        ep = torch.export.export(Sorts(), (torch.randn(1, 6, 8),))
    torch.export.save(ep, tmp_path / "sorts.pt2")
    return {
        "truncated": ([str(truncated)], "not a valid .pt2"),
        "random bytes": ([str(noise)], "not a valid .pt2"),
        "untrusted pickle": ([str(tmp_path / "tiny.pt")], "--trust-pickle"),
        "unsupported op": ([str(tmp_path / "sorts.pt2")], "aten.sort"),
        "seq-len 0": (files["hf"][:1] + ["--seq-len", "0"], "--seq-len"),
        "seq-len too long": (files["hf"][:1] + ["--seq-len", "100000"], "--seq-len"),
        "missing file": ([str(tmp_path / "nowhere.pt2")], "nowhere.pt2"),
    }


def test_bad_inputs_one_line_exit_2_nothing_written(tmp_path):
    for case, (args, words) in _bad_inputs(tmp_path).items():
        out = tmp_path / "never"
        res = CliRunner().invoke(main, ["compile", *args, "--out", str(out)])
        assert res.exit_code == 2, (case, res.output)
        errors = [line for line in res.stderr.splitlines() if line.startswith("llm2hls: error:")]
        assert len(errors) == 1 and words in errors[0], (case, res.stderr)
        assert "Traceback" not in res.output, case
        assert not out.exists() and not list(tmp_path.glob(".never*")), case
