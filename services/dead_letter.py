"""What a dead letter keeps of a refused command: the reason and the non-personal fields, never personal data
(docs/rules.md#dead-letters).

Invariants:
- Personal fields (NIK, name, birth date, address, phone, heir name, and the same inside every row of
  ``member.import``) are replaced by :data:`REDACTED`; so is any field the command's model does not know (a
  misspelt ``nama`` is as personal as ``name``), and every field of a command whose kind is unknown, except the
  envelope (``kind``, ``command_id``, ``effective_on``). A NIK-shaped digit run left in any kept text (a reference,
  a description, a reason) is replaced by :data:`REDACTED_NIK`.
- Fields are dropped, not sealed: a sealed copy would need a key that outlives the member's own (or the member's
  key, which a refused enrolment does not have), and the sender still holds the original. The reason and the
  command id are enough to find and fix the message.
- A body that is not a JSON object keeps no text at all: only its length and SHA-256.
- Headers that carry credentials (authorization, token, cookie, secret, password, api key) are dropped.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from typing import Any

import orjson

from commands.messages import COMMAND_TYPES
from services.messages import CommandError, DeadLetter

REDACTED = "[redacted]"
REDACTED_NIK = "[redacted-nik]"

PERSONAL_FIELDS = frozenset({"nik", "name", "birth_date", "address", "phone", "heir_name"})
"""Fields of any command (and of a cohort row) that hold personal data."""

ENVELOPE_FIELDS = frozenset({"kind", "command_id", "effective_on"})
"""Kept even when the kind is unknown."""

ROW_FIELDS = frozenset({"village_code", "role", "declared_income_rp"})
"""The non-personal fields of a ``member.import`` row (``commands.messages.CohortRow``)."""

SECRET_HEADER = re.compile(r"auth|token|cookie|secret|passw|api[-_]?key|credential", re.IGNORECASE)
NIK_RUN = re.compile(r"(?<!\d)\d{16}(?!\d)")
"""Sixteen digits not part of a longer number: the shape of a NIK."""


def _scrub(value: Any) -> Any:
    """Kept values: NIK-shaped digit runs in text (at any depth) replaced."""
    if isinstance(value, str):
        return NIK_RUN.sub(REDACTED_NIK, value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool) and NIK_RUN.fullmatch(str(value)):
        return REDACTED_NIK
    return value


def _row(row: Any, path: str, redacted: list[str]) -> Any:
    """One ``member.import`` row: ``[line, {fields}]`` or ``{fields}``; anything else is dropped whole."""
    if isinstance(row, list) and len(row) == 2 and isinstance(row[0], int) and isinstance(row[1], dict):
        return [row[0], _row(row[1], f"{path}[1]", redacted)]
    if isinstance(row, dict):
        out = {}
        for key, value in row.items():
            if key in ROW_FIELDS:
                out[key] = _scrub(value)
            else:
                out[key] = REDACTED
                redacted.append(f"{path}.{key}")
        return out
    redacted.append(path)
    return REDACTED


def redact_fields(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A command's JSON object → (the object with personal and unknown fields replaced, their paths)."""
    model = COMMAND_TYPES.get(data["kind"]) if isinstance(data.get("kind"), str) else None
    known = set(model.model_fields) if model is not None else set(ENVELOPE_FIELDS)
    redacted: list[str] = []
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "rows" and model is not None and "rows" in known and isinstance(value, list):
            out[key] = [_row(row, f"rows[{i}]", redacted) for i, row in enumerate(value)]
        elif key == "invalid_rows" and "invalid_rows" in known and isinstance(value, list):
            # (line, field, reason): a parser's reason may quote the refused value
            out[key] = [[r[0], _scrub(r[1]), REDACTED] if isinstance(r, list) and len(r) == 3 else REDACTED
                        for r in value]
            redacted.append("invalid_rows[*].reason")
        elif key in PERSONAL_FIELDS or key not in known:
            out[key] = REDACTED
            redacted.append(key)
        else:
            out[key] = _scrub(value)
    return out, redacted


def redact_body(body: bytes) -> dict[str, Any]:
    """What a dead letter keeps of a received body: ``body_b64``/``body_text`` of the redacted JSON object (empty
    when the body is not one), ``body_bytes``, ``body_sha256`` (only when no text is kept) and ``redacted`` (the
    paths replaced)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return {"body_b64": "", "body_text": None, "body_bytes": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(), "redacted": ["body"]}
    fields, redacted = redact_fields(data)
    kept = orjson.dumps(fields)
    return {"body_b64": base64.b64encode(kept).decode(), "body_text": kept.decode(), "body_bytes": len(body),
            "body_sha256": None, "redacted": redacted}


def safe_headers(headers: dict[str, str] | None) -> dict[str, str]:
    """The headers worth keeping: every one but those that carry credentials (and values scrubbed of NIKs)."""
    return {k: _scrub(v) for k, v in (headers or {}).items() if not SECRET_HEADER.search(k)}


def dead_letter(body: bytes, source: str, command_id: str | None, kind: str | None, error: CommandError,
                headers: dict[str, str] | None) -> DeadLetter:
    """The dead letter of a refused message: its reason, and its body and headers without personal data or
    credentials."""
    error = error.model_copy(update={"field": _scrub(error.field), "reason": _scrub(error.reason)})
    return DeadLetter(received_at=datetime.now(UTC), source=source, command_id=_scrub(command_id), kind=kind,
                      error=error, headers=safe_headers(headers), **redact_body(body))
