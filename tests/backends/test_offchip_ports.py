"""Off-chip weights packed at their bit width and striped over m_axi ports (backends/hls/offchip.py).

Oracles: the reference interpreter (golden outputs, greedy tokens) for the C simulation, the
graph's own quantized weights for the packed files (unpacked here with plain bit arithmetic), and
the file sizes for the report.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

import models
from llm2hls.backends.hls.offchip import container_bits, pack_port, plan_packing
from llm2hls.cli import main
from llm2hls.dse.design_file import parse_sp
from llm2hls.frontend import import_model
from llm2hls.ir.serialize import load_graph
from llm2hls.passes.quantize import QuantConfig
from llm2hls.pipeline import compile_graph, random_inputs

PORTS = 2
LANES = 8


def _fields(data: bytes, bits: int) -> np.ndarray:
    """Signed ``bits``-bit fields of a little-endian byte string, lowest bits first."""
    v = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little").reshape(-1, bits)
    u = (v * (1 << np.arange(bits))).sum(axis=1)
    return np.where(u >= 1 << (bits - 1), u - (1 << bits), u)


def _tile(graph, node: str) -> tuple[int, int]:
    """Rows and inputs per cycle of a linear stage (``lanes`` = rows x inputs, rows first)."""
    n = graph.nodes[node]
    rows = n.param("q_weight").shape[-2]
    lo = min(n.lanes, rows)
    return lo, n.lanes // lo


def _port_lanes(root, graph, node: str, ports: int, copies: int = 1) -> np.ndarray:
    """The weights of ``node`` as read back from its port files, ``[copies, rows, K]``: field
    ``l * ki + j`` of tile row ``(g, kb)`` is the weight of row ``g * lo + l`` at input ``kb * ki + j``;
    the fields past ``lo * ki`` (padding of the last port's word) must be zero."""
    rows, k = graph.nodes[node].param("q_weight").shape[-2:]
    lo, ki = _tile(graph, node)
    files = [root / "weights" / f"{node}_q_weight_p{p}.bin" for p in range(ports)]
    share = [_fields(f.read_bytes(), 4).reshape(copies, rows // lo, k // ki, -1) for f in files]
    tiles = np.concatenate(share, axis=-1)
    assert not tiles[..., lo * ki:].any()
    tiles = tiles[..., :lo * ki].reshape(-1, rows // lo, k // ki, lo, ki)
    return np.moveaxis(tiles, 3, 2).reshape(-1, rows, k)


def _packed_bytes(graph, node: str, ports: int, copies: int) -> int:
    """4-bit fields per port: its share of a tile row rounded up to a power of two (a whole word)."""
    rows, k = graph.nodes[node].param("q_weight").shape[-2:]
    lo, ki = _tile(graph, node)
    word = 1 << (-(-lo * ki // ports) - 1).bit_length()
    return copies * (rows // lo) * (k // ki) * ports * word // 2


def test_packing_plan_and_padding():
    assert plan_packing(8, 8, 1) is None  # 8-bit weights on one port: the plain int8_t layout
    w = plan_packing(2048, 4, 32)
    assert (w.ports, w.word_bits, w.words, w.padding) == (32, 256, 1, 0)
    w = plan_packing(1733, 4, 32)  # a prime lane count: the last port is padded with zero fields
    assert w.lanes_per_port * w.ports >= 1733 and w.words == 1 and w.padding < w.lanes_per_port
    tiles = np.arange(-8, 8).repeat(1733 // 16 + 1)[:1733].reshape(1, 1733)
    got = np.concatenate([_fields(pack_port(tiles, w, p).tobytes(), 4) for p in range(w.ports)])
    assert np.array_equal(got[:1733], tiles[0]) and not got[1733:].any()
    assert container_bits(3) == 4 and container_bits(5) == 8


def test_w4_weights_on_two_ports_are_bit_exact(tmp_path):
    imported = import_model(models.tiny_gpt2(layers=2), seq_len=8)
    g = imported.graph
    linears = [n.name for n in g.nodes.values() if n.op == "linear" and n.layer is not None]
    # what a design file's apply() records: these weights off chip, each striped over 2 channels
    g.meta["design"] = {"weight_placement": {n: "offchip" for n in linears},
                        "weight_ports": {n: PORTS for n in linears}}
    calib = [random_inputs(g, seed) for seed in (1, 2)] + [imported.example_inputs]
    res = compile_graph(g, tmp_path / "p", QuantConfig.from_scheme("w4a8"), calib, imported.example_inputs,
                        lanes=LANES, offchip_min_elements=1 << 30)
    assert res.csim["passed"] and res.csim["mismatches"] == 0, res.csim
    root = res.out_dir
    bins = sorted(f.name for f in (root / "weights").glob("*.bin"))
    assert bins == sorted(f"{n}_q_weight_p{p}.bin" for n in linears for p in range(PORTS))
    for n in linears:  # the two ports hold the packed 4-bit weights, half the lanes each
        node = res.graph.nodes[n]
        assert node.lanes == LANES
        q = np.asarray(node.param("q_weight"))
        assert sum((root / "weights" / f"{n}_q_weight_p{p}.bin").stat().st_size for p in range(PORTS)) == q.size // 2
        assert np.array_equal(_port_lanes(root, res.graph, n, PORTS)[0], q)
    src = (root / "src" / f"{res.report['top']}.cpp").read_text()
    assert f"const ap_uint<{4 * LANES // PORTS}> {linears[0]}_q_weight_p1[" in src
    bundles = [line for line in src.splitlines() if "mode=m_axi" in line]
    assert len(bundles) == len({b.split("bundle=")[1].split()[0] for b in bundles}) == PORTS * len(linears)


@pytest.fixture(scope="module")
def engine_project(tmp_path_factory):
    """explore -> design with the layer weights off chip over 2 channels -> compile --design --decode."""
    root = tmp_path_factory.mktemp("ports")
    models.tiny_gpt2(layers=2).save_pretrained(root / "tiny")
    run = CliRunner().invoke(main, ["explore", str(root / "tiny"), "--target", "U280", "--quant", "w4a8",
                                    "--prompt", "4", "--generate", "4", "--stream-width", "4",
                                    "--save-design", str(root / "d.json")])
    assert run.exit_code == 0, run.output
    doc = json.loads((root / "d.json").read_text())
    doc.update(channels=PORTS, replicate=False, engines=1, kv_onchip=False)
    for row in doc["stages"]:
        if row["kind"] == "linear" and row["layered"]:
            # the attention projection (48 x 48) takes 2 inputs per cycle: 96-field tile rows
            lanes = 2 * row["n"] if row["n"] == row["k"] else LANES
            row.update(onchip_copies=0, placement="offchip", channels=list(range(PORTS)), lanes=lanes)
        elif row["kind"] == "linear":  # the LM head (97 rows: no lane tiles) stays on chip
            row.update(onchip_copies=row["count"], placement="onchip", channels=[])
    (root / "d.json").write_text(json.dumps(doc))
    run = CliRunner().invoke(main, ["compile", str(root / "tiny"), "--design", str(root / "d.json"),
                                    "--decode", "--max-context", "8", "--new-tokens", "3",
                                    "--out", str(root / "p"), "--json"])
    return root / "p", run


def test_engine_decode_with_striped_packed_weights(engine_project):
    root, run = engine_project
    assert run.exit_code == 0, run.output
    summary = json.loads(run.output[run.output.index("{"):])
    report = json.loads((root / "report.json").read_text())
    assert summary["csim"]["passed"] and summary["csim"]["mismatches"] == 0
    assert summary["csim"]["tokens"] == report["decode"]["reference_tokens"]
    g = load_graph(root / "ir.json")
    layers = sorted({n.layer for n in g.nodes.values() if n.layer is not None})
    stacked = sorted({f.name.rsplit("_p", 1)[0] for f in (root / "weights").glob("*_p1.bin")})
    assert stacked and all("_h_0_" in n for n in stacked)  # one engine: layer 0's names, every layer's data
    for name in stacked:
        node = name.removesuffix("_q_weight")
        copies = [g.nodes[node.replace("_h_0_", f"_h_{i}_")].param("q_weight") for i in layers]
        assert np.array_equal(_port_lanes(root, g, node, PORTS, len(layers)), np.stack(copies))
    # link.cfg: every port argument gets its own channel, round-robin over the design's 2
    sp = parse_sp((root / "host" / "link.cfg").read_text())
    ports = [c for c in sp if "_q_weight_p" in c["arg"]]
    assert len(ports) == PORTS * len(stacked) and {c["bank"] for c in ports} == {"HBM[0]", "HBM[1]"}
    assert all(a["bank"] != b["bank"] for a, b in zip(ports[::2], ports[1::2]))
    # one m_axi adapter per channel: an argument's bundle ch<c> is the channel link.cfg gives it
    src = (root / "src" / f"{report['top']}.cpp").read_text()
    bundles = dict(re.findall(r"mode=m_axi port=(\w+) offset=slave bundle=(\w+)", src))
    assert bundles and {b["arg"]: f"ch{b['bank'][4:-1]}" for b in sp} == bundles
    assert set(bundles.values()) == {"ch0", "ch1"}


def test_report_counts_packed_bytes_and_ports(engine_project):
    root, _ = engine_project
    r = CliRunner().invoke(main, ["report", str(root)])
    assert r.exit_code == 0, r.output
    perf = json.loads((root / "report.json").read_text())["performance"]
    g = load_graph(root / "ir.json")
    layers = len({n.layer for n in g.nodes.values() if n.layer is not None})
    striped = {k: v for k, v in perf["offchip_weights"].items() if v["ports"] == PORTS}
    assert striped and perf["channels"] == PORTS
    for name, w in striped.items():
        elements = g.nodes[name].param("q_weight").size * layers
        assert w["bytes"] == _packed_bytes(g, name, PORTS, layers) >= elements // 2
        assert w["bits"] == 8 * w["bytes"] / elements
    assert any(w["bits"] > 4 for w in striped.values())  # the padded attention projection
    assert not any("stored in 8 bits" in f for f in perf["modeled_from"])
    # the report models each stage's stream at the ports and stored bytes of its files; the
    # explorer's prediction of the same packing (perf.model.packed_stream) must agree with them
    # (one test with the checks above: the compiled fixture is built once per xdist worker)
    from llm2hls.perf.model import packed_stream
    from llm2hls.report.modeled import model_project

    report = json.loads((root / "report.json").read_text())
    m = model_project(root, g, report, "U280")
    width = int(g.meta["stream_width"])
    for name, w in m.weights.items():
        node = g.nodes[name]
        if node.op != "linear":
            continue
        stage = next(s for s in m.stages if s.kind == "linear" and s.name in m.design.stage_channels
                     and s.n == node.param("q_weight").shape[-2] and s.k == node.param("q_weight").shape[-1])
        assert m.design.stage_channels[stage.name] == w.ports
        assert m.design.weight_scale.get(stage.name, 1.0) == pytest.approx(w.bits / 4)
        ports, scale = packed_stream(stage, node.lanes, width, 4, PORTS)
        assert ports == w.ports and scale == pytest.approx(w.bits / 4)
    attn = next(s for s in m.stages if s.kind == "attention")
    cache = report["decode"]["kv_caches"][0]
    assert m.design.lanes[attn.name] == g.nodes[cache["stage"]].lanes * attn.head_dim
    assert m.design.stage_channels[attn.name] == min(cache.get("ports", 1), PORTS)  # ports share 2 channels
