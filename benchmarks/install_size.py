"""How much disk cellseg's install takes, per extra, in the current environment.

    python benchmarks/install_size.py

Sums the installed files of every distribution in the dependency closure of cellseg's core and of each
extra (importlib.metadata: files as recorded by pip), and the PyTorch part of it.
"""

from __future__ import annotations

import contextlib
import re
from importlib import metadata


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def size(dist) -> int:
    total = 0
    for f in dist.files or []:
        with contextlib.suppress(OSError):
            total += f.locate().stat().st_size
    return total


def closure(roots: list[str], dists: dict) -> set[str]:
    """Names reachable through unconditional requirements (markers evaluated, extras not followed)."""
    from packaging.requirements import Requirement

    seen, todo = set(), [norm(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen or name not in dists:
            continue
        seen.add(name)
        for req in dists[name].requires or []:
            r = Requirement(req)
            if r.marker is None or r.marker.evaluate({"extra": ""}):
                todo.append(norm(r.name))
    return seen


def main() -> None:
    from packaging.requirements import Requirement

    dists = {norm(d.metadata["Name"]): d for d in metadata.distributions()}
    sizes = {n: size(d) for n, d in dists.items()}
    cellseg = dists["cellseg"]
    by_extra: dict[str, list[str]] = {"core": []}
    for req in cellseg.requires or []:
        r = Requirement(req)
        m = re.search(r'extra == "([^"]+)"', str(r.marker)) if r.marker else None
        by_extra.setdefault(m.group(1) if m else "core", []).append(r.name)
    core = closure(by_extra["core"], dists)
    torch_part = {n for n in core if n in ("torch", "triton") or n.startswith("nvidia-")}
    gb = 1e9
    print(
        f"core (pip install cellseg): {sum(sizes[n] for n in core) / gb:.2f} GB, of which PyTorch "
        f"(torch, triton, nvidia-*) {sum(sizes[n] for n in torch_part) / gb:.2f} GB"
    )
    for extra, roots in by_extra.items():
        if extra == "core":
            continue
        more = closure(roots, dists) - core
        print(f"  + [{extra}]: {sum(sizes[n] for n in more) / gb:.2f} GB more")
    print(
        f"  nvidia-* CUDA libraries: {sum(sizes[n] for n in core if n.startswith('nvidia-')) / gb:.2f} GB; "
        f"triton {sizes.get('triton', 0) / gb:.2f} GB; torch {sizes.get('torch', 0) / gb:.2f} GB "
        f"({metadata.version('torch')})"
    )


if __name__ == "__main__":
    main()
