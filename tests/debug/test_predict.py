"""The predictions adapter drives the loop over a generated dataset, and `dataset evaluate` scores it."""

from __future__ import annotations

import json

from llm2hls.dataset.evaluate import evaluate
from llm2hls.dataset.generate import generate
from llm2hls.dataset.items import load_items
from llm2hls.debug.backends import OpenAIChat
from llm2hls.debug.predict import predict_dataset
from llm2hls.debug.prompt import numbered

from tests.debug.fakechat import FakeChat


def test_predictions_are_scored_by_dataset_evaluate(tmp_path):
    out = tmp_path / "ds"
    generate(out, 1, 1, 5, ["OOB"], echo=lambda *_: None)
    items = load_items(out)
    buggy = [it for it in items if it.buggy]
    assert len(buggy) == 1 and any(it.kind == "clean" for it in items)
    it = buggy[0]
    path = it.base.mutable[0]

    def answer(req: dict) -> str:  # an oracle model: recognises the listing, answers with the whole base file
        assert numbered(it.files[path]) in req["messages"][1]["content"]
        line = min(it.lines[path])
        return f"LINES: {line}\nCLASS: OOB\n```cpp\n{it.base.files[path]}```"

    preds = tmp_path / "p.jsonl"
    with FakeChat(answer) as fake:
        n = predict_dataset(out, OpenAIChat(fake.url, "oracle"), preds, max_tries=2, echo=lambda *_: None)
        assert n == len(items) and len(fake.requests) == 1  # clean code passes its harness: no model call
        assert predict_dataset(out, OpenAIChat(fake.url, "oracle"), preds, echo=lambda *_: None) == 0  # resumed
    rows = {json.loads(l)["id"]: json.loads(l) for l in preds.read_text().splitlines()}
    assert rows[it.id]["classes"] == ["OOB"] and rows[it.id]["fixes"] == [{path: it.base.files[path]}]
    assert all(rows[i.id] == {"id": i.id, "buggy": False} for i in items if not i.buggy)
    trans = [json.loads(l) for l in preds.with_name(preds.name + ".transcripts.jsonl").read_text().splitlines()]
    assert [t["fixed_on_try"] for t in trans if t["id"] == it.id] == [1]

    m = evaluate(out, preds, jobs=1)  # the evaluator re-runs the fix on every vector
    assert m["detection"]["recall"] == 1.0 and m["detection"]["fp"] == 0
    assert m["localization"]["top1"] == 1.0 and m["class_macro_f1"] == 1.0 and m["repair"]["pass@1"] == 1.0
