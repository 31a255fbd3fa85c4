"""Kernels declared ``@njit(**HELPER)`` (no wrapper for Python, :mod:`kansho._jitopts`) are called from other
kernels only: numba makes no entry point from Python for them, and a call from Python code would crash the
interpreter (a segmentation fault, numba 0.68), on whatever path first took it. Held here by reading the
sources: outside the body of a compiled function, no code of the package, its tests or benchmarks names a
helper (imports between kernel modules aside)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
from numba import njit

from kansho._jitopts import HELPER, KERNEL

ROOT = Path(__file__).resolve().parents[1]


def _jit_decorated(node: ast.FunctionDef) -> str | None:
    """``"helper"``, ``"kernel"`` or None: how ``node`` is compiled."""
    for dec in node.decorator_list:
        call = dec if isinstance(dec, ast.Call) else None
        func = call.func if call is not None else dec
        if getattr(func, "id", getattr(func, "attr", "")) not in ("njit", "jit"):
            continue
        spread = [k.value for k in (call.keywords if call is not None else []) if k.arg is None]
        return "helper" if any(getattr(v, "id", "") == "HELPER" for v in spread) else "kernel"
    return None


def _sources() -> list[Path]:
    return [p for d in ("src", "tests", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))
            if "_cache" not in p.parts]


def _helpers() -> dict[str, str]:
    found = {}
    for p in sorted((ROOT / "src" / "kansho").rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef) and _jit_decorated(node) == "helper":
                found[node.name] = f"{p.relative_to(ROOT)}:{node.lineno}"
    return found


class _Refs(ast.NodeVisitor):
    """References to ``names`` outside the bodies of compiled functions."""

    def __init__(self, names: set[str], where: str) -> None:
        self.names, self.where, self.depth, self.found = names, where, 0, []  # type: ignore[var-annotated]

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        jitted = _jit_decorated(node) is not None
        self.depth += jitted
        self.generic_visit(node)
        self.depth -= jitted

    def _ref(self, name: str, node: ast.AST) -> None:
        if name in self.names and self.depth == 0:
            self.found.append(f"{self.where}:{getattr(node, 'lineno', 0)} {name}")

    def visit_Name(self, node: ast.Name) -> None:
        self._ref(node.id, node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self._ref(node.attr, node)
        self.generic_visit(node)


def test_helpers_are_called_from_kernels_only() -> None:
    helpers = _helpers()
    assert len(helpers) >= 40  # the cycle solver's, the NSBAS solver's, the loops' ... (none lost to a rename)
    refs: list[str] = []
    for p in _sources():
        v = _Refs(set(helpers), str(p.relative_to(ROOT)))
        v.visit(ast.parse(p.read_text()))
        refs += v.found
    assert refs == [], f"helpers declared @njit(**HELPER) named outside compiled code: {refs}"


def test_helper_runs_inside_a_kernel() -> None:
    @njit(**{**HELPER, "cache": False})
    def twice(x: float) -> float:  # pragma: no cover - compiled
        return 2.0 * x

    @njit(**{**KERNEL, "cache": False})
    def total(a: np.ndarray) -> float:  # pragma: no cover - compiled
        s = 0.0
        for v in a:
            s += twice(v)
        return s

    assert total(np.arange(4.0)) == 12.0  # (called from Python, ``twice`` would crash the interpreter)
