"""Rule-based bug injection on a tree-sitter C++ syntax tree (one rule class per bug class)."""

from .core import BUG_CLASSES, Mutation, Rule, Source, apply_mutation, rules_for  # noqa: F401
