"""The package layering of harness/ARCHITECTURE.md holds: no module imports a package above its
own, and no import cycle exists between modules, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "harness"

# Bottom to top; a module may import its own level or a lower one. The longest matching prefix
# decides a module's level. This table is the one in harness/ARCHITECTURE.md.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("harness", "harness.errors", "harness.files", "harness.faults", "harness.standins"),
    ("harness.text",),
    ("harness.config", "harness.expect.parse", "harness.expect.resolve"),
    ("harness.scoring",),
    ("harness.synth",),
    ("harness.data",),
    ("harness.model",),
    ("harness.decode",),
    ("harness.train",),
    ("harness.run",),
    ("harness.expect", "harness.report"),
    ("harness.cli", "harness.api"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def harness_imports(path: Path) -> set[str]:
    """Every harness module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "harness" or node.module.startswith("harness."):
                # `from harness.cli import score` imports harness.cli.score when it is a module
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("harness")}
    return found


MODULES = {module_name(path): path for path in ROOT.rglob("*.py")}
GRAPH = {name: harness_imports(path) - {name} for name, path in MODULES.items()}


def level(module: str) -> int:
    best, best_len = None, -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module} is in no layer of LAYERS (tests/test_layering.py)"
    return best


def test_every_module_has_a_layer():
    """Each module of harness/ falls under one of the listed layers (a new package names one)."""
    for module in MODULES:
        level(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    """A module imports only modules of its own layer or below (cli at the top, text at the
    bottom), so training never reaches up into running or reporting."""
    upward = sorted(target for target in GRAPH[module]
                    if target in MODULES and level(target) > level(module))
    assert not upward, f"{module} (layer {level(module)}) imports {upward} from above"


def test_no_import_cycles():
    """No chain of imports leads from a module back to itself, counting lazy imports."""
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(GRAPH.get(module, ())):
            if target not in MODULES or _is_package_of(target, module):
                continue
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _is_package_of(package: str, module: str) -> bool:
    """`harness.x.y` importing `harness.x` runs harness/x/__init__.py first anyway."""
    return module.startswith(package + ".")


def test_the_layering_check_sees_a_violation(tmp_path):
    """The walker finds an upward import inside a function (so the checks above can fail)."""
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from harness.report.render import write_report\n")
    assert "harness.report.render" in harness_imports(source)
    assert level("harness.report.render") > level("harness.train.loop")


def test_architecture_md_states_the_same_layers():
    """harness/ARCHITECTURE.md's layer table names, on each layer's row, the packages this test
    puts there, so the document cannot drift from what is enforced."""
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            rows[int(cells[0])] = cells[1]
    assert sorted(rows) == list(range(len(LAYERS)))
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if prefix == "harness":
                continue
            path = prefix.removeprefix("harness.").replace(".", "/")
            name = f"`{path}/`" if (ROOT / path).is_dir() else f"`{path}.py`"
            assert name in rows[index], f"layer {index} of ARCHITECTURE.md lacks {name}"


def test_architecture_md_names_where_every_setting_takes_effect():
    """Each setting of harness.config.settings has a row in ARCHITECTURE.md's settings table
    (by its dotted path, or by its last part on a row of its section, or as `section.sub.*`)."""
    from harness.config.settings import field_paths

    rows = [line for line in (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `")]
    missing = []
    for path in field_paths():
        section, leaf = path.split(".")[0], path.rsplit(".", 1)[-1]
        parent = path.rsplit(".", 1)[0]
        if not any(f"`{path}`" in row or f"`{parent}.*`" in row
                   or (f"`{section}." in row and f"`{leaf}`" in row) for row in rows):
            missing.append(path)
    assert not missing, f"ARCHITECTURE.md's settings table lacks {missing}"
