"""The package's imports, read from the source with ``ast``: layers that only import downwards, and no import cycles.

Every import counts, at module level and inside functions alike (a function-level import is still a dependency; it
only runs later). Layers, lowest first; a module may import its own layer and the layers below it:

============  =====================================================================================================
layer         modules (by their first name under ``ehfusion``)
============  =====================================================================================================
base          errors, paths, io, progress, random_state, skeleton, geometry, cameras, metrics, style
data          data (files, the embedded dataset, batching), keypoints (your own 2D keypoints)
models        models
evaluation    evaluation (predictions and the Human3.6M protocol; training validates with it)
training      distributed, checkpoints, shipping, training, recipe
applications  experiments, visualisation, model_figures, report_plots, widgets, lift, video, cli, run_onestage,
              run_threestage, course, __main__ (``python -m ehfusion``)
============  =====================================================================================================
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ehfusion"

LAYERS = {
    "base": ("ehfusion", "errors", "paths", "io", "progress", "random_state", "skeleton", "geometry", "cameras", "metrics",
             "style"),
    "data": ("data", "keypoints"),
    "models": ("models",),
    "evaluation": ("evaluation",),
    "training": ("distributed", "checkpoints", "shipping", "training", "recipe"),
    "applications": ("experiments", "visualisation", "model_figures", "report_plots", "widgets", "lift", "video",
                     "cli", "run_onestage", "run_threestage", "course", "__main__", "explorer", "explorer_figures",
                     "checkpoint_choice"),
}
LAYER_ORDER = list(LAYERS)

#: Cycles known and not yet removed (none now). The test fails once a listed one is gone, so that its entry goes too.
PENDING_CYCLES: list[set[str]] = []


# ---------------------------------------------------------------------------------------------------------- reading
def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(module: str, path: Path) -> list[str]:
    """Every ``ehfusion`` name a file imports, anywhere in it, as absolute dotted names (``from X import y`` gives
    ``X.y``, which may be a module or a name inside ``X``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            names += [f"{origin}.{alias.name}" for alias in node.names]
    return [name for name in names if name == "ehfusion" or name.startswith("ehfusion.")]


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the package (a name inside a module counts as that module)."""
    modules = package_modules()
    graph = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(module, path):
            while name not in modules:
                name = name.rpartition(".")[0]
            if name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def layer_of(module: str) -> str | None:
    first = module.split(".")[1] if "." in module else module
    return next((layer for layer, names in LAYERS.items() if first in names), None)


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm): each holds a cycle."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def cycle_path(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One concrete loop through a component, for the failure message: ``[a, b, ..., a]``."""
    start = min(component)
    paths = [[start]]
    while paths:
        path = paths.pop(0)
        for target in sorted(graph[path[-1]] & component):
            if target == start:
                return path + [start]
            if target not in path:
                paths.append(path + [target])
    return sorted(component)


GRAPH = import_graph()


# ---------------------------------------------------------------------------------------------------------- the tests
def test_the_reader_sees_relative_and_function_level_imports():
    assert "ehfusion.data.embedded" in GRAPH["ehfusion.data.loading"]        # imported inside a function
    assert "ehfusion.models.fusion" in GRAPH["ehfusion.models.ehfusion_net"]  # from .fusion import GroupFusion
    assert "ehfusion.data" in GRAPH["ehfusion.cli"]                           # a name from a package's __init__
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycle_path({"a": {"b"}, "b": {"a"}}, {"a", "b"}) == ["a", "b", "a"]


def test_every_module_has_a_layer():
    missing = sorted(module for module in GRAPH if layer_of(module) is None)
    assert not missing, f"modules without a layer: {missing}; add them to LAYERS in {Path(__file__).name}"


def test_no_module_imports_a_higher_layer():
    upward = [f"{module} ({layer_of(module)}) imports {target} ({layer_of(target)})"
              for module, targets in sorted(GRAPH.items()) for target in sorted(targets)
              if LAYER_ORDER.index(layer_of(target)) > LAYER_ORDER.index(layer_of(module))]
    assert not upward, "imports that go up a layer:\n  " + "\n  ".join(upward)


def test_no_import_cycles():
    found = cycles(GRAPH)
    new = [" -> ".join(cycle_path(GRAPH, c)) for c in found if c not in PENDING_CYCLES]
    assert not new, "import cycles:\n  " + "\n  ".join(new)
    gone = [sorted(c) for c in PENDING_CYCLES if c not in found]
    assert not gone, f"these cycles are gone, remove them from PENDING_CYCLES: {gone}"


def third_party_imports(path: Path) -> set[str]:
    """Top-level names of the non-``ehfusion`` packages a file imports (anywhere in it)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names - {"ehfusion"}


def test_model_code_needs_no_plotting_progress_bars_or_widgets():
    presentation = {"matplotlib", "tqdm", "ipywidgets", "IPython"}
    found = {module: sorted(third_party_imports(path) & presentation) for module, path in package_modules().items()
             if layer_of(module) == "models"}
    assert not {m: names for m, names in found.items() if names}, found
    own = {module: sorted(GRAPH[module] & {"ehfusion.progress", "ehfusion.style"}) for module in GRAPH
           if layer_of(module) == "models"}
    assert not {m: names for m, names in own.items() if names}, own   # progress bars and figure style, indirectly
