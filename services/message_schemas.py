"""The schemas of the broker messages, built from the code: one per event class and one per command kind.

:class:`services.messages.EventMessage` carries an event's own fields as ``payload`` and its class name as ``type``;
:class:`services.messages.CommandMessage` is the JSON of a :mod:`commands.messages` command with its ``kind``. Their
documented shapes are discriminated unions generated here, so the AsyncAPI document (``services/asyncapi.py``) can
never list an event or a command the code does not have, nor miss one:

- :data:`EventMessageSchema`: one variant per event class of :mod:`ledger.events` (every subclass of
  :class:`ledger.events.LedgerEvent`), discriminated on ``type``. A variant's ``payload`` is the event's fields
  without the base provenance fields (the envelope carries them: :data:`services.messages.PROVENANCE_FIELDS`, and the
  stream id / version as ``aggregate_id`` / ``aggregate_version``) and without its sealed personal fields, which
  the relay drops (see :func:`services.messages.event_message`).
- :data:`CommandMessageSchema`: one variant per entry of :data:`commands.messages.COMMAND_TYPES`, discriminated on
  ``kind``, with the command model's own fields and constraints; ``kind`` and ``command_id`` are required over the
  broker (:func:`services.command_consumer.process` refuses a message without them).

Variant schemas are named by their discriminator value (``MemberEnrolled``, ``member.enrol``), as AsyncAPI's
``discriminator`` asks. These are documentation models: the relay and the consumer validate with the ledger's and
the commands' own models, of which these are copies.
"""

from __future__ import annotations

import types
import typing
from functools import cache
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from commands.messages import COMMAND_TYPES, Command
from ledger import access_events as access_events_module
from ledger import events as events_module
from ledger.events import LedgerEvent
from ledger.identity import SealedPersonalData
from projections.event_messages import CREDENTIAL_FIELDS, EventMessage

ENVELOPE_FIELDS = frozenset(LedgerEvent.model_fields)
"""Fields of every event that the message envelope carries instead of the payload (or that the store keeps)."""


class Draft7JsonSchema(GenerateJsonSchema):
    """Pydantic's JSON schema, with tuples written the draft-07 way (``items`` as a list): AsyncAPI 3.0 schemas are
    a superset of JSON Schema draft 07, where ``prefixItems`` means nothing."""

    def tuple_schema(self, schema: core_schema.TupleSchema) -> JsonSchemaValue:
        out = super().tuple_schema(schema)
        if "prefixItems" in out:
            out["items"] = out.pop("prefixItems")
            out["additionalItems"] = False
        return out


def event_classes() -> list[type[LedgerEvent]]:
    """Every event class (in :mod:`ledger.events`, then :mod:`ledger.access_events`; stored by topic), in
    definition order."""
    found: list[type[LedgerEvent]] = []
    catalogues = (events_module, access_events_module)
    names = [m.__name__ for m in catalogues]

    def walk(cls: type[LedgerEvent]) -> None:
        for sub in cls.__subclasses__():
            if sub.__module__ in names and sub not in found:
                found.append(sub)
            walk(sub)

    walk(LedgerEvent)
    order = [(i, name) for i, m in enumerate(catalogues) for name in vars(m)]
    return sorted(found, key=lambda cls: order.index((names.index(cls.__module__), cls.__name__)))


def event_type_names() -> list[str]:
    """The values of ``EventMessage.type`` (the ``{Type}`` of the routing key)."""
    return [cls.__name__ for cls in event_classes()]


def _is_sealed(annotation: Any) -> bool:
    return annotation is SealedPersonalData or SealedPersonalData in typing.get_args(annotation)


def _copy(info: FieldInfo) -> tuple[Any, FieldInfo]:
    return info.annotation, FieldInfo.merge_field_infos(info)


def _literal(value: str) -> Any:
    return Literal[value]


def _union(variants: list[type[BaseModel]], discriminator: str) -> Any:
    return Annotated[Union[tuple(variants)], Field(discriminator=discriminator)]  # noqa: UP007


def _event_payload(cls: type[LedgerEvent]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        if name in ENVELOPE_FIELDS or name in CREDENTIAL_FIELDS:  # a token hash is never published
            continue
        if _is_sealed(info.annotation):
            fields[name] = (types.NoneType, Field(
                default=None, description="Sealed personal data: never published. Absent when there was something "
                                          "sealed (then named in dropped_fields), null when there was nothing."))
        else:
            fields[name] = _copy(info)
    return create_model(f"{cls.__name__}Payload", __doc__=f"The fields of a {cls.__name__} event (class version "
                        f"{cls.class_version}).", **fields)


def _event_variant(cls: type[LedgerEvent]) -> type[BaseModel]:
    doc = " ".join((cls.__doc__ or "").split()) or f"A {cls.__name__} event."
    return create_model(
        cls.__name__,
        __base__=EventMessage,
        __doc__=doc,
        type=(_literal(cls.__name__), Field(description="The event class.")),
        payload=(_event_payload(cls), Field(description="The event's own fields (no provenance, no sealed data).")),
    )


def _command_variant(kind: str, cls: type[Command]) -> type[BaseModel]:
    doc = " ".join((cls.__doc__ or "").split()) or f"The {kind} command ({cls.__name__})."
    command_id = _copy(Command.model_fields["command_id"])[1]
    command_id.default_factory = None
    command_id.description = "Idempotency key: required over the broker."
    return create_model(
        kind,
        __base__=cls,
        __doc__=doc,
        kind=(_literal(kind), Field(description="The command type.")),
        command_id=(str, command_id),
    )


class _Documented(RootModel[Any]):
    """A root model over a discriminated union, whose JSON schema is what AsyncAPI asks of one.

    - draft-07 flavoured (see :class:`Draft7JsonSchema`);
    - each variant's definition is named by its discriminator value (pydantic would shorten ``member.enrol`` to
      ``enrol``), and ``discriminator`` is the property's name (AsyncAPI), not OpenAPI's object with a mapping;
    - the discriminator property is declared and required at the union itself, as AsyncAPI requires.
    """

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        kwargs.setdefault("schema_generator", Draft7JsonSchema)
        schema = super().model_json_schema(*args, **kwargs)
        discriminator = schema.pop("discriminator")
        prop, mapping = discriminator["propertyName"], discriminator["mapping"]
        defs: dict[str, Any] = schema["$defs"]
        renamed = {ref.rsplit("/", 1)[-1]: value for value, ref in mapping.items()}
        schema["$defs"] = {renamed.get(name, name): body for name, body in defs.items()}
        text = orjson.dumps(schema).decode()
        for old, new in renamed.items():
            text = text.replace(f'"#/$defs/{old}"', f'"#/$defs/{new}"')
        out: dict[str, Any] = orjson.loads(text)
        out["discriminator"] = prop
        out["properties"] = {prop: {"type": "string", "enum": list(mapping)}}
        out["required"] = [prop]
        return out


@cache
def event_message_schema() -> type[RootModel[Any]]:
    """The documented ``EventMessage``: one variant per event class, discriminated on ``type``."""
    union = _union([_event_variant(cls) for cls in event_classes()], "type")
    model: type[RootModel[Any]] = create_model(
        "EventMessage", __base__=_Documented, root=(union, ...), __doc__=EventMessage.__doc__)
    model.model_config = ConfigDict(title="EventMessage")
    model.model_rebuild(force=True)
    return model


@cache
def command_message_schema() -> type[RootModel[Any]]:
    """The documented ``CommandMessage``: one variant per command kind, discriminated on ``kind``."""
    from services.messages import CommandMessage

    union = _union([_command_variant(kind, cls) for kind, cls in COMMAND_TYPES.items()], "kind")
    model: type[RootModel[Any]] = create_model(
        "CommandMessage", __base__=_Documented, root=(union, ...), __doc__=CommandMessage.__doc__)
    model.model_config = ConfigDict(title="CommandMessage")
    model.model_rebuild(force=True)
    return model
