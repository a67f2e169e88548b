"""``llm2hls report DIR``: the modeled board view (numbers equal the model's of the generated
design), a self-contained HTML page that parses, embedded PNG plots that decode, and clean user
errors."""

from __future__ import annotations

import base64
import io
import json
from html.parser import HTMLParser

import pytest
from click.testing import CliRunner
from models import tiny_gpt2

from llm2hls.cli import main
from llm2hls.ir.serialize import load_graph
from llm2hls.pipeline import compile_model
from llm2hls.report.modeled import model_project


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag, attrs):
        self.tables += tag == "table"
        if tag == "img":
            self.images.append(dict(attrs)["src"])


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    out = tmp_path_factory.mktemp("proj") / "p"
    compile_model(tiny_gpt2(layers=2), out_dir=out, seq_len=8, quant="w4a8", csim=False)
    return out


def test_report_matches_the_model_and_embeds_plots(project, tmp_path):
    ev = {"quant": "w4a8", "tokens": 512, "text": "pydoc:eval",
          "perplexity": {"float": 10.0, "fake_quant": 10.5, "integer": 10.6},
          "gap": {"integer_vs_float": 0.06}}
    (tmp_path / "ev.json").write_text(json.dumps(ev))
    r = CliRunner().invoke(main, ["report", str(project), "--target", "KV260", "--eval", str(tmp_path / "ev.json")])
    assert r.exit_code == 0, r.output

    rep = json.loads((project / "report.json").read_text())
    m = model_project(project, load_graph(project / "ir.json"), rep, "KV260")
    p, target = m.perf, m.target
    assert m.design.lanes[next(s.name for s in m.stages if s.kind == "linear")] == 4  # compile's --lanes
    md = (project / "report.md").read_text()
    assert f"| decode (batch 1) | {p.decode_tps:,.1f} tokens/s |" in md
    fraction = f"{100 * p.fraction_of_roofline:.1f} %" if p.offchip_bytes_per_token else "n/a (no off-chip traffic)"
    assert f"| fraction of the roofline | {fraction} |" in md
    assert f"| DSP | {p.resources['dsp']:,} | {target.budget()['dsp']:,} |" in md
    assert "integer 10.600" in md and "Weight placement" in md and "KV cache" in md

    page = _Page()
    page.feed((project / "report.html").read_text())
    assert page.tables >= 4 and len(page.images) == 3
    import matplotlib.image as mpimg

    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        img = mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
        assert img.shape[0] > 200 and img.shape[1] > 400


def test_report_user_errors(project, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": 1}')
    for args in (["--eval", str(bad)], ["--target", "nosuchboard"]):
        r = CliRunner().invoke(main, ["report", str(project), *args])
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "report.json" in r.output
