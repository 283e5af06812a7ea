"""`jamsos keys status` and `jamsos keys rotate`: the master key's epochs (docs/rules.md#key-rotation).

Rotation re-wraps every live member key under a new master key and destroys the old one: every earlier copy of the
key table (dumps, WAL, replicas, backups) then opens no member key. The pepper stays (member ids derive from it).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from cli.common import JsonOpt, StoreOpt
from cli.verbs import summary
from eventstore.key_rotation import rotate, status
from eventstore.keys import MemberKeyring, Secrets
from eventstore.settings import StoreSettings
from ledger.errors import ConcurrencyConflict, InvalidInput, LedgerError
from ledger.values import format_count

keys_app = typer.Typer(help=summary("keys"))


def _keyring(store: str | None) -> MemberKeyring:
    settings = StoreSettings.from_url(store)
    if settings.kind == "memory":
        raise InvalidInput("store", "an in-memory store has no key file")
    return MemberKeyring(Secrets.load(settings.default_key_file(), create=False), settings.default_keystore_url())


def _run(store: str | None, as_json: bool, go: Any) -> None:
    from cli.root import SESSION

    keyring = None
    try:
        if SESSION["token"]:  # the key file is the server's own: no principal manages it from afar
            raise InvalidInput("token", "keys are managed by the server's operating-system user (local admin), "
                                        "not with a token")
        keyring = _keyring(store)
        result = go(keyring)
    except LedgerError as err:
        sys.stderr.write(f"error: {err.field}: {' '.join(str(err.reason).split())}\n")
        raise typer.Exit(6 if isinstance(err, ConcurrencyConflict) else 2) from None
    finally:
        if keyring is not None:
            keyring.close()
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")
    else:
        for key, value in result.items():
            sys.stdout.write(f"{key}: {json.dumps(value, default=str) if isinstance(value, dict | list) else value}\n")


@keys_app.command("status")
def keys_status(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """The key file's epoch, the key table's, the member keys per epoch, the rotations done."""
    _run(store, as_json, status)


@keys_app.command("rotate")
def keys_rotate(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Re-wrap every member key under a new master key, in one transaction; then the new key file replaces the old
    one (no copy kept) and, on PostgreSQL, VACUUM FULL rewrites the key table. Back up the new key file: a key file
    of an earlier epoch opens nothing."""
    show = not as_json and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show:
            sys.stderr.write(f"\rre-wrapped {format_count(done)}/{format_count(total)} member keys")
            sys.stderr.flush()

    def go(keyring: MemberKeyring) -> dict[str, Any]:
        result = rotate(keyring, progress)
        if show:
            sys.stderr.write("\n")
        return result

    _run(store, as_json, go)
