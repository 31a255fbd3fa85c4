"""The shape of the code base, held by tests: no import cycle (imports inside functions and under
TYPE_CHECKING count too), numerics that import nothing from orchestration, no module over 600
lines and no function over 80 lines in ``src/`` and ``benchmarks/``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PKG = SRC / "kansho"

#: the numerics: plain functions on arrays (DESIGN §6.1)
NUMERICS = ("kansho.qc", "kansho.loops", "kansho._loops_jit", "kansho.inversion", "kansho._nsbas_jit",
            "kansho._nsbas_band", "kansho._unwfix_jit", "kansho.velocity", "kansho.mask", "kansho.filters",
            "kansho.filters_adaptive", "kansho._filter_jit", "kansho._invert_jit", "kansho.network",
            "kansho.reference", "kansho.bridge", "kansho.gaptie", "kansho.outliers", "kansho._outlier_jit",
            "kansho.tides", "kansho.geodesy.plate", "kansho.jumps", "kansho._jumps_jit", "kansho._velocity_jit",
            "kansho.loopfix", "kansho._loopfuse_jit", "kansho._loopsq_jit", "kansho._mask_jit", "kansho._qc_jit")
#: what numerics may import from the package: each other and the leaf helpers (kansho._threads runs a
#: compiled kernel's ranges on threads, kansho._flight lets threads share one computation of a cached entry)
NUMERICS_MAY_IMPORT = (*NUMERICS, "kansho._types", "kansho._constants", "kansho._dates", "kansho.errors",
                       "kansho._threads", "kansho._columns", "kansho._flight", "kansho._jitopts",
                       "kansho._machine")  # the cores a kernel may use: a leaf (os only), as _threads

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The package module that ``import name`` executes last (``name`` or its closest parent)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(mod: str) -> set[str]:
    path = MODULES[mod]
    tree = ast.parse(path.read_text())
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            for a in node.names:
                found.add(f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem)
    out = set()
    for name in found:
        r = _resolve(name) if name.split(".")[0] == "kansho" else None
        if r and r != mod:
            out.add(r)
            # importing a.b.c runs the __init__ of every package above it, except those this
            # module is itself inside (already being initialised) and the root (lazy)
            parent = r.rpartition(".")[0]
            while parent.count(".") >= 1 and not (mod + ".").startswith(parent + "."):
                out.add(parent)
                parent = parent.rpartition(".")[0]
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    return out


def test_graph_sees_imports() -> None:
    """The parser finds the imports it must judge (a graph with no edges would pass every test)."""
    assert "kansho.inversion" in GRAPH["kansho.chain.steps.invert"]
    assert "kansho.chain.registry" in GRAPH["kansho.run"]  # an import inside a function counts
    assert sum(len(d) for d in GRAPH.values()) > 100


def test_no_import_cycle() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("mod", NUMERICS)
def test_numerics_import_no_orchestration(mod: str) -> None:
    bad = sorted(d for d in GRAPH[mod] if d not in NUMERICS_MAY_IMPORT)
    assert bad == [], f"{mod} imports {bad}"


def _sources() -> list[Path]:
    return sorted(PKG.rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))


def test_no_long_module() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_long_function() -> None:
    long = {}
    for p in _sources():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(ROOT)}:{node.name}"] = n
    assert long == {}
