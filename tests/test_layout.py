"""The import graph of app/ (and models/) is read from the source with ``ast``, nothing imported:
every import points down the layers and no modules import each other in a loop.

Layers, lowest first: models/ (pure networks and math), the foundations in app/ itself, app/live/
(the pipeline), app/tools/ (offline tools), app/kiosk/ (installation mode), app/ui/ (the only Qt),
app/cli/ (wires them together). Imports under ``if TYPE_CHECKING:`` are annotations only and
are left out; lazy imports inside functions count like any other.
"""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# package -> the packages its modules may import from.
ALLOWED: dict[str, set[str]] = {
    "models": {"models"},
    "app": {"models", "app"},
    "app.live": {"models", "app", "app.live"},
    "app.tools": {"models", "app", "app.live", "app.tools"},
    "app.kiosk": {"models", "app", "app.live", "app.kiosk"},
    "app.ui": {"models", "app", "app.live", "app.kiosk", "app.ui"},
    "app.cli": {"models", "app", "app.live", "app.tools", "app.kiosk", "app.ui", "app.cli"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    files = sorted((REPO / "app").rglob("*.py")) + sorted((REPO / "models").rglob("*.py"))
    return {module_name(f): f for f in files}


def is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import mod`` counts as pkg.mod)."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                found.add(source)
                found.update(f"{source}.{a.name}" for a in child.names if f"{source}.{a.name}" in known)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return {m for m in found if m in known and m != name}


def package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def test_every_module_belongs_to_a_layer():
    known = modules()
    assert len(known) > 60
    assert {package_of(n, p) for n, p in known.items()} <= set(ALLOWED)


def test_app_imports_only_down_its_layers():
    known = modules()
    upward = []
    for name, targets in graph().items():
        allowed = ALLOWED[package_of(name, known[name])]
        for target in sorted(targets):
            if package_of(target, known[target]) not in allowed and target not in ("app", "models"):
                upward.append(f"{name} -> {target}")
    assert not upward, "upward imports: " + ", ".join(upward)


def test_the_kiosk_does_not_import_the_ui():
    edges = graph()
    assert not [t for n, ts in edges.items() if n.startswith("app.kiosk") for t in ts if t.startswith("app.ui")]


def test_no_modules_import_each_other_in_a_loop():
    edges = graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    loops: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                loops.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            walk(start, [start])
    assert not loops, "import loops: " + "; ".join(" -> ".join(loop) for loop in loops)


def test_requirements_txt_lists_exactly_the_requirements_of_pyproject_toml():
    """The README installs from requirements.txt; pyproject.toml names the same packages (runtime and extras)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    named = set(project["dependencies"]) | {r for extra in project["optional-dependencies"].values() for r in extra}
    lines = (line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines())
    assert {line for line in lines if line} == named


def readme_layout() -> dict[str, set[str]]:
    """The README's Layout section: folder -> the file names its entry mentions."""
    text = (REPO / "README.md").read_text()
    block = text[text.index("## Layout\n"):text.index("\n## ", text.index("## Layout\n") + 1)]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            current, _, rest = line.strip().partition(" ")
            entries[current] = rest
        elif line.startswith("     ") and current is not None:
            entries[current] += " " + line.strip()
    return {folder: set(re.findall(r"\b[\w]+\.(?:py|sh)\b", rest)) for folder, rest in entries.items()
            if folder.endswith("/")}


def test_the_readme_layout_names_every_module_file_for_file():
    layout = readme_layout()
    folders = ["models/", "app/", "app/live/", "app/tools/", "app/kiosk/", "app/ui/", "app/cli/", "scripts/",
               "scripts/training_data/"]
    for folder in folders:
        files = {p.name for p in (REPO / folder).iterdir() if p.suffix in (".py", ".sh") and p.name != "__init__.py"}
        assert layout.get(folder) == files, f"README Layout, {folder}: {sorted(layout.get(folder, set()) ^ files)}"
