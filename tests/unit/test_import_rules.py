"""The layering rules (issue 10 §3), checked on the source so a new import that breaks
them fails here instead of in a site without SQLAlchemy, click or pytest installed.

- the core (``ara_ldap/*.py``) imports no backend; only the interface
  ``ara_ldap.backends.base`` and, in the composition root ``bootstrap.py``, the
  ``ara_ldap.backends`` registry;
- backends import no CLI, tools, gateway, notify or test code, even lazily;
- nothing outside ``ara_ldap.testing`` imports the harness or pytest at import time
  (the conformance/demo commands may import the harness inside the function that runs).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import ara_ldap

PACKAGE = Path(ara_ldap.__file__).parent
TEST_CODE = ("ara_ldap.testing", "pytest", "_pytest")
FRONT_ENDS = ("ara_ldap.cli", "ara_ldap.tools", "ara_ldap.gateway", "ara_ldap.notify")
CORE_MAY_IMPORT = ("ara_ldap.backends.base",)


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("ara_ldap", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: Path, *, top_level_only: bool) -> Iterator[tuple[str, int]]:
    """Absolute names imported by *path*; with *top_level_only*, skip function bodies
    (those run when called, not when the module loads)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        for child in ast.iter_child_nodes(node):
            if top_level_only and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            todo.append(child)
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            yield name, node.lineno
            # ``from ara_ldap import testing`` names the module in the alias.
            for alias in node.names:
                yield f"{name}.{alias.name}", node.lineno


def test_the_core_imports_no_backend_except_the_interface() -> None:
    bad = [
        f"{module}:{line} imports {name}"
        for module, path in _modules()
        if path.parent == PACKAGE and module != "ara_ldap.bootstrap"
        for name, line in _imports(module, path, top_level_only=False)
        if _under(name, ("ara_ldap.backends",)) and not _under(name, CORE_MAY_IMPORT)
    ]
    assert bad == []


def test_bootstrap_reaches_backends_only_through_the_registry() -> None:
    path = PACKAGE / "bootstrap.py"
    names = [n for n, _ in _imports("ara_ldap.bootstrap", path, top_level_only=False)]
    backends = {n for n in names if _under(n, ("ara_ldap.backends",))}
    assert backends <= {"ara_ldap.backends", "ara_ldap.backends.create_backend"}


def test_backends_import_no_front_end_or_test_code() -> None:
    bad = [
        f"{module}:{line} imports {name}"
        for module, path in _modules()
        if _under(module, ("ara_ldap.backends",))
        for name, line in _imports(module, path, top_level_only=False)
        if _under(name, FRONT_ENDS + TEST_CODE) or name == "ara_ldap.cli_support"
    ]
    assert bad == []


def test_product_code_imports_no_test_code_at_import_time() -> None:
    bad = [
        f"{module}:{line} imports {name}"
        for module, path in _modules()
        if not _under(module, ("ara_ldap.testing",))
        for name, line in _imports(module, path, top_level_only=True)
        if _under(name, TEST_CODE)
    ]
    assert bad == []


def test_loading_the_cli_and_the_servers_loads_no_test_code() -> None:
    # The static check above misses an import through a third module; this catches it.
    code = (
        "import sys, ara_ldap.cli, ara_ldap.bootstrap, ara_ldap.gateway.commands, "
        "ara_ldap.notify.commands\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest') "
        "or m.startswith('ara_ldap.testing')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
