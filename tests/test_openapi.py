"""The committed OpenAPI document is the one the code generates, and it describes every route honestly."""

from __future__ import annotations

from typing import Any

from api.openapi import DOCUMENT, document, text
from commands.authorise import COMMAND_ROLES
from ledger.values import Role

METHODS = ("get", "post", "put", "patch", "delete")


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document()["paths"].items() for method, op in item.items()
            if method in METHODS]


def test_the_committed_document_is_fresh() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == text(), "docs/openapi.json is stale: run `make openapi`"


def test_every_route_declares_its_roles_and_its_problems() -> None:
    roles = {r.value for r in Role}
    for path, method, op in operations():
        assert "x-roles" in op, f"{method.upper()} {path} declares no roles"
        assert set(op["x-roles"]) <= roles
        if op["x-roles"]:
            assert "admin" in op["x-roles"], f"{method.upper()} {path}: admin may call every route"
            for status in ("401", "403", "422", "500", "503"):
                assert status in op["responses"], f"{method.upper()} {path} does not document {status}"
                assert "application/problem+json" in op["responses"][status]["content"]


def test_every_command_kind_has_exactly_one_route() -> None:
    kinds = [op["x-command-kind"] for _, _, op in operations() if "x-command-kind" in op]
    assert sorted(kinds) == sorted(COMMAND_ROLES), set(COMMAND_ROLES) ^ set(kinds)


def test_no_route_puts_a_nik_or_a_name_in_its_path() -> None:
    for path, _, _ in operations():
        assert "{nik}" not in path and "{name}" not in path.replace("/principals/{name}", "")
