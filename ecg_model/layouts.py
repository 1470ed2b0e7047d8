"""Printed 12-lead layouts: which lead sits in which row and column (shared by synth and imaging)."""

from __future__ import annotations

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF",
                          "V1", "V2", "V3", "V4", "V5", "V6")

# Rows of leads, left to right; a row with one lead is a full-length (rhythm) strip.
LAYOUTS: dict[str, list[list[str]]] = {
    "3x4+1": [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"],
              ["III", "aVF", "V3", "V6"], ["II"]],
    "3x4": [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"]],
    "3x4+3": [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"],
              ["III", "aVF", "V3", "V6"], ["V1"], ["II"], ["V5"]],
    "6x2": [["I", "V1"], ["II", "V2"], ["III", "V3"], ["aVR", "V4"], ["aVL", "V5"], ["aVF", "V6"]],
    "12x1": [[name] for name in LEADS],
}

# The layouts the synthetic generator draws (the others are recognised when found).
SYNTH_LAYOUTS = ("3x4+1", "6x2", "12x1")


def box_name(layout: str, row: int, lead: str) -> str:
    """A lead's box name; a rhythm strip that repeats a lead is "<lead> (rhythm)"."""
    rows = LAYOUTS[layout]
    repeated = sum(lead in r for r in rows) > 1
    return f"{lead} (rhythm)" if repeated and len(rows[row]) == 1 else lead
