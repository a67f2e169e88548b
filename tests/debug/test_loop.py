"""The loop, through the CLI, fixes a real injected bug on a real harness with a fake endpoint that is
wrong first and right second; the failure evidence of try 1 must reach the model in try 2."""

from __future__ import annotations

import json

from click.testing import CliRunner

from llm2hls.cli import main

from tests.debug.fakechat import FakeChat


def _answers(path: str, line: int, buggy: str, base: str):
    bad_line, good_line = buggy.split("\n")[line - 1], base.split("\n")[line - 1]

    def answer(req: dict) -> str:
        if sum(m["role"] == "user" for m in req["messages"]) == 1:  # first try: a wrong fix (still overflows)
            wrong = bad_line.replace("<= 4", "<= 3 + 1")
            assert wrong != bad_line
            return f"The loop is off.\nLINES: {line}\nCLASS: OOB\nFIX:\n{line}: {wrong.strip()}\n"
        # second try: the right fix as a unified diff with a wrong hunk position
        return (f"```diff\n--- a/{path}\n+++ b/{path}\n@@ -{line + 40},1 +{line + 40},1 @@\n"
                f"-{bad_line}\n+{good_line}\n```\nLINES: {line}\nCLASS: OOB")
    return answer


def test_fake_endpoint_fixes_real_bug_with_feedback(gemm_case, tmp_path):
    root, design, path, buggy, line = gemm_case
    base = design.files[path]
    kernel = tmp_path / "kernel.cpp"
    kernel.write_text(buggy)
    with FakeChat(_answers(path, line, buggy, base)) as fake:
        r = CliRunner().invoke(main, ["debug", str(kernel), "--harness", str(root), "--endpoint", fake.url,
                                      "--api-model", "fake-1", "--json"])
        assert r.exit_code == 0, r.output
        tr = json.loads(r.output)
        assert tr["initial"]["status"] == "sanitizer" and tr["fixed"] and tr["fixed_on_try"] == 2
        t1, t2 = tr["tries"]
        assert t1["lines"] == [line] and t1["classes"] == ["OOB"] and t1["fix_format"] == "line_edits"
        assert t1["evidence"]["status"] == "sanitizer" and t1["evidence"]["detail"]
        assert t2["fix_format"] == "unified_diff" and t2["evidence"] == {"status": "pass", "detail": ""}
        assert f"-{buggy.split(chr(10))[line - 1]}" in tr["diff"]
        assert kernel.read_text() == buggy  # no --write: the user's file is untouched

        first, second = fake.requests[:2]
        assert len(fake.requests) == 2 and first["model"] == "fake-1" and first["temperature"] == 0
        listing = first["messages"][1]["content"]
        assert f"{line:4d} | {buggy.split(chr(10))[line - 1]}" in listing and tr["initial"]["detail"] in listing
        roles = [m["role"] for m in second["messages"]]
        assert roles == ["system", "user", "assistant", "user"]
        assert second["messages"][2]["content"] == t1["reply"]
        assert t1["evidence"]["detail"] in second["messages"][3]["content"]  # the failure evidence is fed back

        r = CliRunner().invoke(main, ["debug", str(kernel), "--harness", str(root), "--endpoint", fake.url,
                                      "--api-model", "fake-1", "--write"])
        assert r.exit_code == 0 and "fixed on try 2" in r.output
        assert kernel.read_text() == base  # --write: the harness-passing fix replaces the file
