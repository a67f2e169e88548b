"""Executable HLS debugging dataset: base designs with harnesses, rule-based bug injection on a
C++ syntax tree, verification of every mutant by execution (or a named static rule), records,
and scoring of debuggers. See docs/dataset.md."""
