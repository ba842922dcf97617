"""Rules 2 and 3 of the style models, enforced on the source tree.

Dependencies point one way (bot -> checks -> kb) and parsers stay pure: if any of
these fail, someone moved I/O or knowledge into the wrong layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "kb", "checks")
FORBIDDEN_FOR = {
    "kb": {"bot", "checks", "flask", "webexpythonsdk", "requests", "socket"},
    "checks": {"bot", "flask", "webexpythonsdk"},
}
PURE_PREFIXES = ("checks/parsers/", "checks/certs.py", "checks/diagnose.py")
IMPURE = {"flask", "webexpythonsdk", "requests", "socket", "OpenSSL.SSL", "dns.resolver", "subprocess"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _sources():
    for pkg in PACKAGES:
        yield from sorted((ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_layering(path: Path):
    rel = path.relative_to(ROOT).as_posix()
    layer = rel.split("/")[0]
    imported = _imports(path)
    bad = {m for m in imported for f in FORBIDDEN_FOR.get(layer, ()) if m == f or m.startswith(f + ".")}
    assert not bad, f"{rel} imports {sorted(bad)}, against the bot -> checks -> kb direction"
    if rel.startswith(PURE_PREFIXES):
        impure = {m for m in imported for f in IMPURE if m == f or m.startswith(f + ".")}
        assert not impure, f"{rel} is a pure parser but imports {sorted(impure)}"
        text = path.read_text(encoding="utf-8")
        assert "os.environ" not in text and "open(" not in text, f"{rel} reads the environment or opens files"
