"""`jamsos` starts light: the root help imports no verb, a verb imports only its own module, and the verb index
(:data:`cli.verbs.VERBS`) names every command the verb modules define. The time itself is measured in
bench/cli.py, never here."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
from typing import Any

import pytest
import typer

import cli
from cli.root import subcommands
from cli.verbs import VERBS

HEAVY = ("sqlalchemy", "pydantic", "eventsourcing", "ledger", "commands", "eventstore", "projections", "api",
         "services", "fastapi", "openpyxl")
"""What a verb may need but the root help never does."""
LIGHT = ("ledger.escapes",)
"""What the root may import of those packages: the escapes of its one-line errors (no pydantic)."""


def loaded_after(code: str) -> set[str]:
    """The top-level packages in ``sys.modules`` after running ``code`` in a fresh interpreter, a package counted
    only for a module of it other than :data:`LIGHT` (and the package itself)."""
    light = {*LIGHT, *(name.split(".")[0] for name in LIGHT)}
    probe = (f"{code}\nimport json, sys\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules "
             f"if m not in {sorted(light)!r}}})))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode in (0, 2), proc.stderr  # 2: the bare help's exit
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def help_then(argv: list[str]) -> str:
    return ("import sys\nfrom cli.app import main\nsys.argv = " + repr(["jamsos", *argv]) +
            "\ntry:\n    main()\nexcept SystemExit:\n    pass")


@pytest.mark.parametrize("code", ["import cli.app", help_then(["--help"]), help_then([])],
                         ids=["import", "--help", "bare"])
def test_the_root_help_imports_no_verb(code: str) -> None:
    heavy = loaded_after(code) & set(HEAVY)
    assert not heavy, f"the root help imported {sorted(heavy)}"


def test_a_verb_imports_only_what_it_needs() -> None:
    loaded = loaded_after(help_then(["region", "--help"]))
    assert "ledger" in loaded  # the verb's own module and what it imports
    assert not loaded & {"fastapi", "openpyxl", "services", "api"}, sorted(loaded & set(HEAVY))


def test_the_check_can_see_a_heavy_import() -> None:
    assert "sqlalchemy" in loaded_after("import sqlalchemy")


def verb_modules() -> list[str]:
    """Every cli module that defines a typer app of its own (cli.root holds the root, cli.app runs it, and
    ``python -m cli`` would run it on import)."""
    names = [f"cli.{info.name}" for info in pkgutil.iter_modules(cli.__path__)
             if info.name not in ("root", "app", "__main__")]
    return [name for name in names if any(
        isinstance(value, typer.Typer) for value in vars(importlib.import_module(name)).values())]


def test_every_command_of_a_verb_module_is_in_the_index() -> None:
    reached: set[tuple[str, str]] = {(verb.module, verb.attribute) for verb in VERBS.values()}
    for module_name in verb_modules():
        module = importlib.import_module(module_name)
        for attribute, value in vars(module).items():
            if isinstance(value, typer.Typer):
                assert (module_name, attribute) in reached, f"{module_name}.{attribute} is in no entry of VERBS"
        holder = getattr(module, "verbs", None)
        if holder is not None:
            for info in holder.registered_commands:
                name = info.name or info.callback.__name__.replace("_", "-")
                assert VERBS.get(name) is not None and VERBS[name].module == module_name, (
                    f"`jamsos {name}` ({module_name}) is not in VERBS")


def test_every_indexed_verb_loads_under_its_name_with_its_summary() -> None:
    from cli.app import app

    root: Any = typer.main.get_command(app)
    loaded = subcommands(root)
    assert list(loaded) == list(VERBS)
    for name, command in loaded.items():
        assert command.name == name
        assert command.short_help == VERBS[name].summary
        assert command.params or subcommands(command), f"{name}: neither options nor subcommands"


def test_the_root_help_lists_every_summary() -> None:
    proc = subprocess.run([sys.executable, "-m", "cli", "--help"], capture_output=True, text=True, timeout=60,
                          env={"COLUMNS": "400", "TERMINAL_WIDTH": "400", "PATH": ""})
    assert proc.returncode == 0, proc.stderr
    text = "".join(proc.stdout.split())  # the summaries wrap at the help's width, after a space or a hyphen
    for name, verb in VERBS.items():
        assert "".join(f"{name} {verb.summary}".split()) in text, name


def test_an_unknown_verb_is_one_error_line_and_loads_no_verb() -> None:
    proc = subprocess.run([sys.executable, "-m", "cli", "enroll"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc
    assert proc.stderr.strip().splitlines() == ["error: usage: No such command 'enroll'. (see --help)"], proc.stderr
    assert not loaded_after(help_then(["enroll"])) & {"eventstore", "projections", "sqlalchemy"}


def test_the_report_help_imports_no_report() -> None:
    """``jamsos report --help`` lists the reports from projections.report_names: no SQLAlchemy, no write side (a
    report itself, on the light path, is probed in tests/test_light_read.py)."""
    loaded = loaded_after(help_then(["report", "--help"]))
    assert not loaded & {"sqlalchemy", "pydantic", "eventsourcing", "eventstore", "commands"}, sorted(loaded)
