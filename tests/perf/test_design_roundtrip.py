"""explore --save-design -> compile --design: the project is the design (lanes, stream width,
engine, weight placement, memory channels) and stays bit-exact in C simulation."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from models import tiny_gpt2

from llm2hls.cli import main
from llm2hls.dse.design_file import parse_sp, read_design
from llm2hls.errors import UserError
from llm2hls.ir.serialize import load_graph
from llm2hls.passes.parallelize import largest_divisor_at_most
from llm2hls.perf.model import linear_lanes_split
from llm2hls.perf.workload import Stage

WIDTH = 4  # stream width of the explored designs (W > 1: beats of up to 4 elements)


@pytest.fixture(scope="module")
def roundtrip(tmp_path_factory):
    root = tmp_path_factory.mktemp("design")
    tiny_gpt2(layers=2).save_pretrained(root / "tiny")
    run = CliRunner().invoke(main, ["explore", str(root / "tiny"), "--target", "U280", "--prompt", "4",
                                    "--generate", "4", "--stream-width", str(WIDTH),
                                    "--save-design", str(root / "d.json")])
    assert run.exit_code == 0, run.output
    doc = json.loads((root / "d.json").read_text())
    # the tiny model fits on chip; stream the LM head from 2 channels, as a bigger model would
    row = next(r for r in doc["stages"] if r["name"] == "lm_head")
    row.update(onchip_copies=0, placement="offchip")
    doc["channels"] = 2
    (root / "d.json").write_text(json.dumps(doc))
    run = CliRunner().invoke(main, ["compile", str(root / "tiny"), "--design", str(root / "d.json"),
                                    "--decode", "--max-context", "8", "--new-tokens", "3",
                                    "--out", str(root / "p"), "--json"])
    return root, doc, run


def test_compiled_project_is_the_design(roundtrip):
    root, doc, run = roundtrip
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output[run.output.index("{"):])
    assert summary["csim"]["passed"] and summary["csim"]["mismatches"] == 0
    assert summary["csim"]["tokens"] == json.loads((root / "p" / "report.json").read_text())["decode"]["reference_tokens"]

    g = load_graph(root / "p" / "ir.json")
    assert g.meta["stream_width"] == doc["stream_width"] == WIDTH
    # lanes: the design's lanes of the stage with the same weight shape, built as the performance
    # model splits them (outputs x inputs per cycle), with full lane groups
    by_shape = {(r["n"], r["k"]): r["lanes"] for r in doc["stages"] if r["kind"] == "linear"}
    linears = [n for n in g.nodes.values() if n.op == "linear"]
    assert len(linears) == 9
    for n in linears:
        rows, k = n.param("weight").shape
        asked = by_shape[(rows, k)]
        out, inp = linear_lanes_split(Stage("s", "linear", n=rows, k=k), n.lanes, WIDTH)
        assert out * inp == n.lanes and rows % out == 0 and k % inp == 0, n.name
        assert out == largest_divisor_at_most(rows, asked), n.name
        assert n.lanes <= asked and (out < rows or 2 * n.lanes > min(asked, rows * WIDTH)), n.name
    assert any(n.lanes > n.param("weight").shape[0] for n in linears)  # inputs per cycle too
    # placement: only the LM head is an m_axi weight, striped over the 2 channels (one port each,
    # backends/hls/offchip.py); its ports and the KV caches get the 2 channels in turn
    assert sorted(f.name for f in (root / "p" / "weights").glob("*.bin")) == [
        "lm_head_linear_q_weight_p0.bin", "lm_head_linear_q_weight_p1.bin"]
    sp = parse_sp((root / "p" / "host" / "link.cfg").read_text())
    assert sp[:2] == [{"arg": f"lm_head_linear_q_weight_p{i}", "bank": f"HBM[{i}]"} for i in range(2)]
    caches = json.loads((root / "p" / "report.json").read_text())["decode"]["kv_caches"]
    kv_args = sum(2 * c.get("ports", 1) for c in caches)  # a K and a V cache, each striped over its ports
    assert [c["bank"] for c in sp] == [f"HBM[{i % 2}]" for i in range(len(sp))] and len(sp) == 2 + kv_args
    # attention: the design's MACs per cycle as whole keys per cycle (ops.attention.keys_per_cycle)
    row = next(r for r in doc["stages"] if r["kind"] == "attention")
    attn = [n for n in g.nodes.values() if n.op == "attention"]
    assert row["lanes"] % row["head_dim"] == 0 and row["lanes"] > row["head_dim"]
    seq = g.tensors[attn[0].outputs[0]].type.shape[0]
    assert all(n.lanes == min(row["lanes"] // row["head_dim"], seq) for n in attn)


def test_report_models_the_generated_design(roundtrip):
    root, doc, _ = roundtrip
    r = CliRunner().invoke(main, ["report", str(root / "p")])
    assert r.exit_code == 0, r.output
    perf = json.loads((root / "p" / "report.json").read_text())["performance"]
    g = load_graph(root / "p" / "ir.json")
    assert perf["stream_width"] == WIDTH
    assert perf["linear_lanes"] == max(n.lanes for n in g.nodes.values() if n.op == "linear")
    assert perf["engines"] == doc["engines"] == 1
    assert [c["arg"] for c in perf["connectivity"]][0] == "lm_head_linear_q_weight_p0"
    assert any("lm_head_linear: " in p and "off chip" in p for p in perf["placement"])
    assert perf["design_file"]["figures"]["decode_tps"] == doc["figures"]["decode_tps"]
    # the 4-bit LM head is packed (its 97-row tiles padded to whole words) over 2 ports
    w = perf["offchip_weights"]["lm_head_linear"]
    assert w["ports"] == perf["channels"] == 2 and 4 <= w["bits"] < 8


def test_design_of_another_model_is_refused(roundtrip):
    root, doc, _ = roundtrip
    g = load_graph(root / "p" / "ir.json")
    other = json.loads(json.dumps(doc))
    next(r for r in other["stages"] if r["name"] == "fc1")["n"] *= 2  # another FFN size
    (root / "other.json").write_text(json.dumps(other))
    with pytest.raises(UserError, match="was made for tiny.*fc"):
        read_design(root / "other.json").resolve(g)
    read_design(root / "d.json").resolve(g)  # its own design resolves
