"""Markdown helpers for the generated reference."""

from __future__ import annotations


def paragraph(text: str) -> str:
    """A docstring as Markdown: its paragraphs kept, each on one line."""
    blocks = [" ".join(block.split()) for block in text.strip().split("\n\n")]
    return "\n\n".join(block for block in blocks if block)


def cell(text: str) -> str:
    """Text for a table cell: one line, and a `|` that does not end the cell."""
    return " ".join(text.split()).replace("|", "\\|")
