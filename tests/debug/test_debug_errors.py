"""Clear one-line user errors (exit 2, no traceback) for the usual mistakes."""

from __future__ import annotations

import socket

from click.testing import CliRunner

from llm2hls.cli import main


def _run(*args):
    r = CliRunner().invoke(main, ["debug", *map(str, args)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    return r.output


def test_missing_harness_kernel_and_model(gemm_case, tmp_path):
    root, _, _, buggy, _ = gemm_case
    kernel = tmp_path / "kernel.cpp"
    kernel.write_text(buggy)
    out = _run(kernel, "--harness", tmp_path / "nope", "--model", "smollm2")
    assert "harness" in out and "does not exist" in out
    assert "not found" in _run(tmp_path / "missing.cpp", "--harness", root, "--model", "smollm2")
    assert "not a transformers model folder" in _run(kernel, "--harness", root, "--model", tmp_path / "no-model")
    assert "give exactly one model" in _run(kernel, "--harness", root)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "design.json").write_text("{not json")
    assert "not a base design JSON" in _run(kernel, "--harness", tmp_path / "bad", "--endpoint", "http://127.0.0.1:9/v1")
    assert "not a dataset" in _run("--dataset", tmp_path, "--predictions", tmp_path / "p.jsonl", "--model", "smollm2")


def test_unreachable_endpoint(gemm_case, tmp_path):
    root, _, _, buggy, _ = gemm_case
    kernel = tmp_path / "kernel.cpp"
    kernel.write_text(buggy)
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = _run(kernel, "--harness", root, "--endpoint", f"http://127.0.0.1:{port}/v1", "--api-model", "m")
    assert f"cannot reach chat endpoint http://127.0.0.1:{port}/v1/chat/completions" in out
    assert kernel.read_text() == buggy
