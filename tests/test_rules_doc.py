"""docs/rules.md is the project's rules reference: it stands on its own and says what the code says.

- Every versioned rule table of the code (a module-level tuple of versions with ``valid_from``, wherever it lives)
  has a parameter table in docs/rules.md with one column per version, and every field of every version (its
  ``valid_from``, its legal basis, every figure) reads there exactly as the code has it.
- No file of the repository cites a document outside it (the business reference the project started from), and
  every ``docs/rules.md#<anchor>`` cited anywhere exists.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import re
import subprocess
from collections.abc import Mapping
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "rules.md"
PACKAGES = ("ledger", "commands", "projections", "services", "eventstore")
KNOWN_TABLES = {"CONTRIBUTION_TARIFFS", "BENEFIT_TABLES", "COVERAGE_RULES", "BUDGET_RULES", "MATCHING_RULES",
                "ZONE_RULES", "ROLE_LISTS"}


SKIPPED_MODULES = {"services.asyncapi"}
"""Modules not imported for the search: building the AsyncAPI app at import clears JAMSOS_BROKER_NAMESPACE."""


@cache
def versioned_tables() -> dict[str, tuple[Any, ...]]:
    """Every module-level tuple whose items all have a ``valid_from`` date, by name (names are unique)."""
    found: dict[str, tuple[Any, ...]] = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name in SKIPPED_MODULES:
                continue
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (isinstance(value, tuple) and value and all(isinstance(getattr(v, "valid_from", None), date)
                                                                for v in value)):
                    assert found.get(name, value) is value, f"two tables named {name}"
                    found[name] = value
    return found


def thousands(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def render(name: str, value: Any) -> str:
    """A field's value as docs/rules.md writes it (Indonesian thousands, rupiah with Rp)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"Rp{thousands(value)}" if name.endswith("_rp") else thousands(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, frozenset | set):
        return ", ".join(f"`{v}`" for v in sorted(value)) or "none"
    if isinstance(value, Mapping):
        return "; ".join(f"`{k}` {render(name, v)}" for k, v in value.items())
    if dataclasses.is_dataclass(value):
        return ", ".join(f"{f.name} {render(f.name, getattr(value, f.name))}" for f in dataclasses.fields(value))
    return str(value)


def parameter_table(text: str, table: str, versions: int) -> dict[str, list[str]]:
    """The rows of the markdown table whose header names ``table[0]`` … ``table[n-1]``: field → cells."""
    lines = text.splitlines()
    header = f"| parameter | {' | '.join(f'`{table}[{i}]`' for i in range(versions))} |"
    starts = [i for i, line in enumerate(lines) if line.strip() == header]
    assert len(starts) == 1, f"docs/rules.md needs one parameter table headed {header!r}"
    rows: dict[str, list[str]] = {}
    for line in lines[starts[0] + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_known_rule_tables_are_found() -> None:
    assert set(versioned_tables()) >= KNOWN_TABLES


@pytest.mark.parametrize("table", sorted(versioned_tables()))
def test_every_version_of_every_rule_table_reads_in_rules_md_as_the_code_has_it(table: str) -> None:
    versions = versioned_tables()[table]
    rows = parameter_table(RULES.read_text(), table, len(versions))
    fields = [f.name for f in dataclasses.fields(versions[0])]
    assert {"valid_from"} | ({"legal_basis", "basis"} & set(fields)) <= set(rows), f"{table}: date or basis missing"
    assert set(rows) == set(fields), f"{table}: rows {sorted(rows)} but fields {fields}"
    for i, version in enumerate(versions):
        for name in fields:
            expected = render(name, getattr(version, name))
            assert rows[name][i] == expected, f"{table}[{i}].{name}: docs/rules.md says {rows[name][i]!r}"


def test_rules_md_is_checked_against_the_code_for_real() -> None:
    """The check above fails on a figure that differs (here: the JKM rate of the 2015 tariff)."""
    table = "CONTRIBUTION_TARIFFS"
    text = RULES.read_text()
    rows = parameter_table(text, table, 2)
    assert rows["jkm_flat_rp"][0] == "Rp6.800"
    changed = text.replace("| `jkm_flat_rp` | Rp6.800 |", "| `jkm_flat_rp` | Rp6.900 |", 1)
    assert parameter_table(changed, table, 2)["jkm_flat_rp"][0] != render("jkm_flat_rp", 6_800)


# --- citations ---------------------------------------------------------------------------------------------------

OUTSIDE = ("domain" + ".md", "../" + "shared", "shared/" + "domain", "\u00a7")
"""What a citation of the business reference outside the repository looks like (written so that this file does
not match itself): its file name, the steering folder, and the section sign it was cited with."""


def repository_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.split("\n")
    return [ROOT / name for name in listed if name and (ROOT / name).is_file()]


def text_of(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return None


def anchors() -> set[str]:
    return set(re.findall(r'<a id="([a-z0-9-]+)"></a>', RULES.read_text()))


def test_no_file_cites_a_document_outside_the_repository() -> None:
    files = repository_files()
    assert len(files) > 50
    offenders = []
    for path in files:
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            # a public standard cited by its own section (RFC 6962 §2.1) is not the business reference
            if any(token in re.sub(r"RFC \d+ \u00a7[\d.]+", "", line) for token in OUTSIDE):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert offenders == []


def test_every_cited_rule_anchor_exists() -> None:
    known = anchors()
    assert len(known) >= 20
    cited: dict[str, list[str]] = {}
    for path in repository_files():
        text = text_of(path)
        if text is None:
            continue
        for anchor in re.findall(r"rules\.md#([A-Za-z0-9_-]+)", text):
            cited.setdefault(anchor, []).append(str(path.relative_to(ROOT)))
        if path == RULES:
            for anchor in re.findall(r"\]\(#([A-Za-z0-9_-]+)\)", text):
                cited.setdefault(anchor, []).append("docs/rules.md")
    assert len(cited) >= 10, "the code and the README cite the rules reference"
    assert {a: where for a, where in cited.items() if a not in known} == {}


def test_every_rule_anchor_is_unique() -> None:
    ids = re.findall(r'<a id="([a-z0-9-]+)"></a>', RULES.read_text())
    assert len(ids) == len(set(ids))
