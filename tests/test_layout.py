"""The import picture: packages import only themselves and packages before them, and no module cycle."""

import ast
from pathlib import Path

import florenz

ROOT = Path(florenz.__file__).parent
# data flows one way (architecture.md): a package may import only itself and the packages before it
ORDER = ["errors", "allocator", "config", "files", "lazy", "world", "data", "model", "train", "eval",
         "pretrain", "scaling", "study", "cli"]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def florenz_imports(path: Path) -> set[str]:
    """Every florenz module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("florenz"):
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("florenz"))
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in ROOT.rglob("*.py")}
    return {name: {imported for imported in florenz_imports(path) if imported in modules and imported != name}
            for name, path in modules.items()}


def rank(module: str) -> int:
    return ORDER.index(module.split(".")[1]) if "." in module else -1


def test_packages_import_only_earlier_packages():
    wrong = [f"{module} imports {imported}" for module, imports in graph().items() for imported in imports
             if rank(imported) > rank(module)]
    assert wrong == []


def test_no_module_imports_itself_through_a_cycle():
    edges = graph()
    cycles = []

    def visit(module: str, path: list[str]) -> None:
        for imported in edges[module]:
            if imported in path:
                cycles.append(path[path.index(imported):] + [imported])
            elif len(path) < 30:
                visit(imported, path + [imported])

    for module in edges:
        visit(module, [module])
    assert cycles == []
