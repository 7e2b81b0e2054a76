"""The package's layers: every module imports only from its own layer or below (README.md, "Layout", has the map).

The import graph is read from the source (every `import mdit...` / `from mdit... import`, at any depth, relative
imports resolved), so a function-level import that runs up the layers fails as well as a top-level one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mdit"

# Top to bottom. A module's layer is that of the longest prefix listed.
LAYERS = [
    ["mdit.cli", "mdit.__main__"],
    ["mdit.sweep", "mdit.results"],
    ["mdit.evaluation", "mdit.embeddings.build"],
    ["mdit.run"],
    ["mdit.pretraining"],
    ["mdit.trainer"],
    ["mdit.training", "mdit.ema", "mdit.callbacks", "mdit.checkpoint_io", "mdit.condition_forwards"],
    ["mdit.cost", "mdit.metrics", "mdit.judges", "mdit.backbone"],
    ["mdit.sampling", "mdit.pipeline"],
    ["mdit.model"],
    ["mdit.data", "mdit.embeddings"],
    ["mdit.conditioning"],
    [
        "mdit.labels",
        "mdit.masks",
        "mdit.visualize",
        "mdit.paths",
        "mdit.devices",
        "mdit.runs",
        "mdit.scores",
        "mdit.config",
        "mdit.variants",
        "mdit.atomic",
        "mdit.paper",
        "mdit.progress",
        "mdit",
    ],
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    matches = [
        (len(prefix), rank)
        for rank, prefixes in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def imports_of(path: Path) -> set[str]:
    """The mdit modules `path` imports (for `from X import name`, X.name when that is a module, else X)."""
    return imports_in(module_name(path), path.read_text(), is_package=path.name == "__init__.py")


def imports_in(module: str, source: str, is_package: bool = False) -> set[str]:
    """The mdit modules that `source`, the text of `module`, imports (relative imports resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "mdit"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "mdit":
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).is_file() or (
                    PACKAGE.parent / candidate.replace(".", "/")
                ).is_dir()
                found.add(candidate if is_module else base)
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_module_imports_up_its_layers(path: Path) -> None:
    module = module_name(path)
    upward = sorted(name for name in imports_of(path) if layer_of(name) < layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports from higher layers: {upward}"


def test_no_lazy_module_attributes() -> None:
    """No package hides its imports behind a module-level __getattr__."""
    lazy = [module_name(p) for p in SOURCES if "\ndef __getattr__(" in p.read_text()]
    assert not lazy


def test_the_layer_test_catches_an_upward_import() -> None:
    """The check itself: a data module importing training, at any depth and relatively, is reported as upward."""
    source = "import torch\n\ndef f():\n    from ..training import MDiTModule\n    from mdit.run import fit\n"
    found = imports_in("mdit.data.faces", source)
    assert found == {"mdit.training", "mdit.run"}
    assert all(layer_of(name) < layer_of("mdit.data.faces") for name in found)
    assert layer_of("mdit.embeddings.build") < layer_of("mdit.embeddings.latents")  # longest prefix wins


@pytest.mark.parametrize("module", ["mdit.config", "mdit.variants", "mdit.runs", "mdit.results.table"])
def test_the_light_modules_import_without_torch(module: str) -> None:
    """`mdit config`, `mdit variants` and reading runs answer in a fraction of a second: no torch, diffusers, peft."""
    heavy = ("torch", "diffusers", "peft", "lightning")
    code = f"import sys, {module}; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{module} imports {out.strip()}"
