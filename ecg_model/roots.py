"""Where the Train page may read datasets: only inside configured root folders.

A path is judged by where it really leads (``..`` and symbolic links resolved), so neither
``root/../elsewhere`` nor a link inside a root that points out of it gets through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def _resolved_roots(roots: Sequence[str | Path]) -> list[Path]:
    return [Path(r).expanduser().resolve() for r in roots]


def confine(path: str | Path, roots: Sequence[str | Path]) -> Path:
    """The real folder ``path`` leads to, if it lies inside one of ``roots``.

    Raises:
        ValueError: with a sentence naming the roots, when it lies outside all of them or is
            not a folder.
    """
    real = Path(path).expanduser().resolve()
    for root in _resolved_roots(roots):
        if real == root or root in real.parents:
            if not real.is_dir():
                raise ValueError(f"{path} is not a folder")
            return real
    names = ", ".join(str(r) for r in _resolved_roots(roots)) or "(none configured)"
    raise ValueError(f"{path} is outside the data folders this app may read ({names}); "
                     f"set ECG_DATA_ROOTS to add a folder")


def dataset_candidates(roots: Sequence[str | Path], depth: int = 2) -> list[Path]:
    """Folders under the roots (the roots and their subfolders to ``depth`` levels) that hold
    subfolders, i.e. could be an ECG_ROOT; anything that leads out of its root is left out."""
    out: set[Path] = set()
    for root in _resolved_roots(roots):
        if not root.is_dir():
            continue
        levels = [root]
        frontier = [root]
        for _ in range(depth):
            frontier = [c for f in frontier if f.is_dir() and not f.is_symlink() for c in sorted(f.iterdir())]
            levels += frontier
        for level in levels:
            try:
                real = confine(level, [root])
                if any(c.is_dir() for c in real.iterdir()):
                    out.add(real)
            except (ValueError, OSError):
                continue
    return sorted(out)
