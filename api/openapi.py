"""``python -m api.openapi``: write the OpenAPI document generated from the routes to ``docs/openapi.json``
(``make openapi``; ``tests/test_openapi.py`` fails when the committed document is stale)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from api.app import create_app
from eventstore.settings import Settings

DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"


def document() -> dict[str, Any]:
    """The OpenAPI document of the application (no store is opened)."""
    spec: dict[str, Any] = create_app(Settings(store="memory://")).openapi()
    return spec


def text() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main() -> None:
    DOCUMENT.write_text(text(), encoding="utf-8")
    sys.stdout.write(f"wrote {DOCUMENT.relative_to(DOCUMENT.parents[1])}: {len(document()['paths'])} paths\n")


if __name__ == "__main__":
    main()
