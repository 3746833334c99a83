"""The layers of DESIGN.md hold in the import graph: a test fails on an import that breaks them.

Read from the source (every `import` and `from … import`, including ones inside functions and under
TYPE_CHECKING), so nothing is executed. The rules, lowest layer first:

- `config`, `domain`: import nothing of ours.
- `engine`: `config`; only its I/O edges (the service, its jobs, the audit's builder) reach `storage`.
- `storage`: `config`, `domain`, `engine` (its models).
- `access.py`: `config`, `domain`, `engine` models.
- `services` and `billing` (a service package): `engine`, `storage`, `access`, `config`, `domain`.
- `delivery`: `storage`, `access`, `config`, `domain`, and the engine's vocabulary.
- surfaces (`bot`, `api`, `web`): `services`, `billing`, `access`, `config`, `domain`, and the engine's pure
  vocabulary and math; from `storage` only its records (plain dataclasses) at run time — a repository
  only as an annotation (under TYPE_CHECKING), since the services do the I/O; never the running engine,
  and never `app`.
- `app` (the one wiring point) and `run_bot.py`: everything.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

from tests.paths import ROOT

OURS = {
    "config",
    "domain",
    "engine",
    "storage",
    "access",
    "services",
    "billing",
    "delivery",
    "bot",
    "api",
    "web",
    "app",
}
#: The engine's running parts and I/O edges: no surface may import them.
ENGINE_RUNTIME = {"engine.core", "engine.service", "engine.jobs", "engine.integrity", "engine.providers"}
#: The engine modules allowed to reach storage.
ENGINE_EDGES = {"engine.service", "engine.jobs", "engine.integrity"}
SURFACE_ALLOWED = {"services", "billing", "access", "config", "domain", "engine", "storage"}
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "domain": set(),
    "engine": {"config"},
    "storage": {"config", "domain", "engine"},
    "access": {"config", "domain", "engine"},
    "services": {"engine", "storage", "access", "config", "domain", "billing"},
    "billing": {"engine", "storage", "access", "config", "domain", "services"},
    "delivery": {"storage", "access", "config", "domain", "engine"},
    "bot": SURFACE_ALLOWED,
    "api": SURFACE_ALLOWED,
    "web": SURFACE_ALLOWED,
}
SURFACES = {"bot", "api", "web"}


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] not in OURS and rel.name != "access.py":
            continue
        if len(rel.parts) == 1 and rel.name != "access.py":
            continue
        name = ".".join(rel.with_suffix("").parts).removesuffix(".__init__")
        found.append((name, path))
    return found


def _type_only(tree: ast.Module) -> set[int]:
    """Lines of imports under `if TYPE_CHECKING:`: names for annotations, never called."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            lines.update(child.lineno for child in ast.walk(node) if isinstance(child, ast.ImportFrom | ast.Import))
    return lines


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for each absolute import of one of our packages."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in OURS:
                out.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names if a.name.split(".")[0] in OURS)
    return out


def _is_record(module: str, name: str) -> bool:
    """A plain value: a constant, or a dataclass with no coroutine (a repository does I/O, a record does not)."""
    value = getattr(importlib.import_module(module), name, None)
    if isinstance(value, str):
        return True
    if not (isinstance(value, type) and dataclasses.is_dataclass(value)):
        return False
    return not any(inspect.iscoroutinefunction(getattr(value, attr, None)) for attr in dir(value))


def _violations() -> list[str]:
    problems = []
    for name, path in _modules():
        layer = name.split(".")[0]
        if layer == "app":
            continue
        allowed = ALLOWED[layer]
        type_only = _type_only(ast.parse(path.read_text(encoding="utf-8")))
        for target, names, line in _imports(path):
            top = target.split(".")[0]
            where = f"{path.relative_to(ROOT)}:{line} imports {target}"
            if top == layer:
                continue
            edge = layer == "engine" and top == "storage" and any(name.startswith(e) for e in ENGINE_EDGES)
            if top not in allowed and not edge:
                problems.append(f"{where}: {layer} may not import {top}")
                continue
            if layer in (*SURFACES, "delivery") and top == "engine":
                taken = [target] + [f"{target}.{n}" for n in names]
                if any(t == r or t.startswith(r + ".") for t in taken for r in ENGINE_RUNTIME):
                    problems.append(f"{where}: a surface may not reach the running engine")
            if layer in SURFACES and top == "storage" and line not in type_only:
                bad = [n for n in names if not _is_record(target, n)] or ([] if names else [target])
                if bad:
                    problems.append(f"{where}: a surface reads storage's records only, not {', '.join(bad)}")
    return problems


def test_the_layers_hold_in_the_import_graph():
    problems = _violations()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("layer", ["config", "domain"])
def test_the_base_imports_nothing_of_ours(layer):
    for name, path in _modules():
        if name.split(".")[0] == layer:
            assert [t for t, _, _ in _imports(path) if t.split(".")[0] != layer] == [], path
