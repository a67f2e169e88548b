"""The reply parser reads localization, class and a fix out of messy model answers."""

from __future__ import annotations

from llm2hls.debug.parse import parse_reply
from llm2hls.debug.prompt import class_list

KERNEL = """#include "kernel.h"

int clamp(int x) {
    return x > 7 ? 7 : x;
}

void scale(const int a[8], int y[8]) {
    for (int i = 0; i <= 8; i++) {
        y[i] = clamp(a[i] * 3);
    }
}
"""
GOOD_LOOP = "    for (int i = 0; i < 8; i++) {"
FIXED = KERNEL.replace("i <= 8", "i < 8")
CLASSES = list(class_list())


def test_line_edit_format_with_chatter():
    reply = ("Sure! Looking at the code, the loop runs once too often.\n"
             "LINES: 8, 9\nCLASS: oob (out-of-bounds)\nFIX:\n8:   for (int i = 0; i < 8; i++) {\n"
             "Hope this helps.")
    r = parse_reply(reply, KERNEL, CLASSES)
    assert r.lines == [8, 9] and r.classes == ["OOB"] and r.fix_format == "line_edits"
    assert r.fixed == FIXED  # original indentation kept


def test_line_edits_in_listing_style_inside_a_fence():
    reply = "LINES: 8\nCLASS: OOB\nFIX:\n```cpp\n   8 | for (int i = 0; i < 8; i++) {\n```"
    assert parse_reply(reply, KERNEL, CLASSES).fixed == FIXED


def test_line_edit_can_delete_a_line():
    reply = "LINES: 1\nCLASS: ZERO\nFIX:\n1:\n"
    r = parse_reply(reply, KERNEL, CLASSES)
    assert r.fixed == KERNEL.split("\n", 1)[1]


def test_unified_diff_with_wrong_numbers_and_missing_context_prefix():
    reply = ("```diff\n--- a/src/kernel.cpp\n+++ b/src/kernel.cpp\n@@ -30,3 +30,3 @@\n"
             "void scale(const int a[8], int y[8]) {\n"  # context line without its leading space
             "-    for (int i = 0; i <= 8; i++) {\n+" + GOOD_LOOP + "\n"
             "         y[i] = clamp(a[i] * 3);\n```\nThe bug is on line 8.")
    r = parse_reply(reply, KERNEL, CLASSES)
    assert r.fix_format == "unified_diff" and r.fixed == FIXED and r.lines == [8]


def test_whole_function_replaces_only_that_function():
    body = "void scale(const int a[8], int y[8]) {\n" + GOOD_LOOP + "\n        y[i] = clamp(a[i] * 3);\n    }\n}"
    reply = "CLASS: OOB\nHere is the corrected function:\n```cpp\n" + body + "\n```"
    r = parse_reply(reply, KERNEL, CLASSES)
    assert r.fix_format == "function" and r.fixed == FIXED


def test_whole_file_with_echoed_line_numbers():
    listing = "\n".join(f"{i:4d} | {l}" for i, l in enumerate(FIXED.rstrip("\n").split("\n"), 1))
    r = parse_reply("```cpp\n" + listing + "\n```", KERNEL, CLASSES)
    assert r.fix_format == "file" and r.fixed == FIXED


def test_bare_snippet_replaces_the_most_similar_line():
    r = parse_reply("The fix:\n```\nfor (int i = 0; i < 8; i++) {\n```", KERNEL, CLASSES)
    assert r.fix_format == "snippet" and r.fixed == FIXED.replace(GOOD_LOOP, "for (int i = 0; i < 8; i++) {")


def test_unusable_answers_are_explained():
    r = parse_reply("LINES: <line numbers>\nCLASS: <one class code>\nFIX:\n<line number>: <code>", KERNEL, CLASSES)
    assert r.fixed is None and r.lines == [] and r.classes == [] and r.problem  # a copied template is no answer
    same = parse_reply("LINES: 8\nCLASS: OOB\nFIX:\n8:     for (int i = 0; i <= 8; i++) {", KERNEL, CLASSES)
    assert same.fixed is None and same.problem == "the proposed fix does not change the code"
    chat = parse_reply("I think the code is fine.", KERNEL, CLASSES)
    assert chat.fixed is None and "give FIX: lines" in chat.problem


def test_out_of_range_lines_and_unknown_classes_are_dropped():
    r = parse_reply("LINES: 0, 99, 4\nCLASS: FOO, NARROW\nFIX:\n99: x", KERNEL, CLASSES)
    assert r.lines == [4] and r.classes == ["NARROW"] and r.fixed is None
