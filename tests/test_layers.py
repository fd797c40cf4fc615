"""The package's layers: nothing imports the CLI, and lower layers never import upper ones."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "inkubator_tui"
# A module may import from its own layer and the layers listed after it, never before.
LAYERS = ["cli", "tui", "exports", "agents", "tools", "views", "pipeline", "project"]


def imports(path: Path) -> set[str]:
    """The inkubator_tui modules a file imports (relative imports resolved), at any depth."""
    module = path.relative_to(PACKAGE.parent).with_suffix("").parts
    package = module[:-1] if path.name != "__init__.py" else module
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ((node.module,) if node.module else ()))
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {n for n in out if n.startswith("inkubator_tui")}


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_nothing_imports_the_cli():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.relative_to(PACKAGE).parts[0] not in ("cli", "__main__.py")
                 and any(layer(n) == "cli" for n in imports(p))]
    assert offenders == []


def test_lower_layers_never_import_upper_ones():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        own = layer("inkubator_tui." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
        if own is None:
            continue
        for name in imports(path):
            other = layer(name)
            if other is not None and LAYERS.index(other) < LAYERS.index(own):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert wrong == []


def test_the_checker_sees_a_relative_import_of_the_cli(tmp_path):
    fake = PACKAGE / "tui" / "app.py"
    assert "inkubator_tui.doctor" in imports(fake)  # the import the app really makes, resolved from `..doctor`
    assert layer("inkubator_tui.cli") == "cli" and layer("inkubator_tui.tui.app") == "tui"
