"""Formatting shared by the commands' progress lines."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """``1m05s`` below an hour, ``2h03m`` from an hour on."""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
