"""Receiving a file upload (``multipart/form-data``): one part named ``file`` and a few small text fields.

The body is read only after the route's role check (the route declares no body parameter, so FastAPI does not
parse it first) and it is never held in memory whole: the multipart parser spools the file part to a temporary
file, and the middleware stops the request with 413 as soon as it exceeds ``Settings.http_upload_max_bytes``.
The file is then copied into a private directory (mode 0700) under a name the server chooses
(``upload<suffix>``); the client's file name is only a label — refused (422 naming ``file``) if it holds a path
separator, ``..`` or a control character, or has a suffix the route does not read — and both are deleted when
the request ends, whatever happens.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from commands.messages import field_error
from ledger.errors import InvalidInput, LedgerError

FILE_FIELD = "file"
FILE_NAME_LEN_MAX = 255
FORM_FIELDS_MAX = 16
FORM_FIELD_BYTES_MAX = 4_096
"""A text field of an upload form (an agreement id, a date): small."""
COPY_CHUNK_BYTES = 1_048_576
UPLOAD_TMP_DIR: str | None = None
"""Where the private upload directories are made (None: the system's temporary directory). Tests point it
elsewhere to see that nothing is left behind."""
UPLOAD_DIR_PREFIX = "jamsos-upload-"

F = TypeVar("F", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Upload:
    """A received upload: ``path`` (server-chosen, private), the client's file name as ``label``, the text
    fields, and the file's size in bytes."""

    path: Path
    label: str
    fields: Mapping[str, str]
    size_bytes: int

    def relabel(self, err: LedgerError) -> LedgerError:
        """``err`` with the server's file name replaced by the client's label (a reader names the file)."""
        if type(err) is not InvalidInput or self.path.name not in err.reason:
            return err
        return InvalidInput(err.field, err.reason.replace(str(self.path), self.label)
                            .replace(self.path.name, self.label))


def checked_label(name: str | None, suffixes: tuple[str, ...]) -> str:
    """The client's file name if it is a plain name with one of ``suffixes``; else :class:`InvalidInput`."""
    if not name:
        raise InvalidInput(FILE_FIELD, "the file part has no file name")
    if len(name) > FILE_NAME_LEN_MAX:
        raise InvalidInput(FILE_FIELD, f"the file name is longer than {FILE_NAME_LEN_MAX} characters")
    if "/" in name or "\\" in name or ".." in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput(FILE_FIELD, "the file name must be a plain name: no path separator, '..' or control "
                                       "character")
    if not name.lower().endswith(suffixes):
        raise InvalidInput(FILE_FIELD, f"{name}: only {', '.join(suffixes)} files are read here")
    return name


def form_fields(model: type[F], fields: Mapping[str, str]) -> F:
    """The upload's text fields as ``model`` (unknown fields refused), naming the field on a refusal."""
    try:
        return model.model_validate(dict(fields))
    except ValidationError as exc:
        raise field_error(exc) from None


def multipart_body(model: type[BaseModel], file_description: str) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of an upload route: the ``file`` part and ``model``'s text fields."""
    schema = model.model_json_schema()
    properties = {FILE_FIELD: {"type": "string", "format": "binary", "description": file_description},
                  **schema.get("properties", {})}
    return {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "properties": properties, "required": [FILE_FIELD, *schema.get("required", [])],
        "additionalProperties": False}}}}


@asynccontextmanager
async def received(request: Request, suffixes: tuple[str, ...]) -> AsyncIterator[Upload]:
    """Read the request's multipart body (see the module docstring); the upload exists inside the block only.

    Raises 415 for another content type, :class:`InvalidInput` for a missing or badly named file, an unknown
    or repeated field, and lets the middleware's 413 and a client's disconnect (``ClientDisconnect``) through."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise StarletteHTTPException(415, "send multipart/form-data: a part named file and the form fields")
    form = await request.form(max_files=1, max_fields=FORM_FIELDS_MAX, max_part_size=FORM_FIELD_BYTES_MAX)
    try:
        fields: dict[str, str] = {}
        file: UploadFile | None = None
        for name, value in form.multi_items():
            if isinstance(value, str):
                if name in fields:
                    raise InvalidInput(name, "given twice")
                fields[name] = value
            elif name != FILE_FIELD or file is not None:
                raise InvalidInput(name, "unknown file part: send one part named file")
            else:
                file = value
        if file is None:
            raise InvalidInput(FILE_FIELD, "missing: send the file as the multipart part named file")
        label = checked_label(file.filename, suffixes)
        suffix = next(s for s in suffixes if label.lower().endswith(s))
        directory = tempfile.mkdtemp(prefix=UPLOAD_DIR_PREFIX, dir=UPLOAD_TMP_DIR)  # mode 0700
        try:
            path = Path(directory) / f"upload{suffix}"
            size = 0
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := await file.read(COPY_CHUNK_BYTES):
                    out.write(chunk)
                    size += len(chunk)
            yield Upload(path, label, fields, size)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    finally:
        await form.close()
