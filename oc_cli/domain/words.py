"""Counting words for messages: ``1 usage row``, ``2 usage rows``, ``1 duplicate``."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` and ``word``, in the plural unless ``count`` is one (``many`` for irregular ones)."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"
