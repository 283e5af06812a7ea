"""The index of `jamsos` verbs: each verb's module and its one-line summary, so that ``jamsos --help`` lists every
verb without importing any of them, and a verb imports only its own module (and what that module needs).

Invariants (tests/test_cli_startup.py): every command or group a verb module defines is in :data:`VERBS`, under
the name it is reached by; a listed summary is what ``--help`` shows for it whether or not the module was loaded.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

VERB_COUNT_MAX = 64
"""A bound on the index: the root help is one screen, not a catalogue."""


@dataclass(frozen=True)
class Verb:
    """One `jamsos` verb. ``attribute`` names a ``typer.Typer`` in ``module``: the verb's group itself when
    ``group`` is true, else the module's typer holding the command of the verb's name."""

    module: str
    attribute: str
    summary: str
    group: bool

    def load(self, name: str) -> Any:
        """The click command (or group) of this verb, built by typer from its module."""
        import typer.main  # a verb is loaded only when it runs: typer.main builds click objects, not needed for help

        holder = getattr(importlib.import_module(self.module), self.attribute)
        built = typer.main.get_group(holder)
        command = built if self.group else built.commands[name]
        command.name = name
        command.short_help = self.summary
        return command


def _group(module: str, attribute: str, summary: str) -> Verb:
    return Verb(module, attribute, summary, group=True)


def _command(module: str, summary: str) -> Verb:
    return Verb(module, "verbs", summary, group=False)


VERBS: dict[str, Verb] = {
    "demo": _command("cli.demo", "Load the seed schemes (docs/rules.md#seed-scenarios) and play them month by month "
                     "on a simulated clock."),
    "bill": _command("cli.money", "Issue an invoice: members expected in each month of the block × the tariff in "
                     "force, per programme; prints the budget status."),
    "init": _command("cli.operations", "Create the store, its key file (master key + pepper) and the member-key "
                     "table."),
    "sweep": _command("cli.operations", "Emit every lapse due by --on (ARREARS, FUNDING_ENDED). Running it again for "
                      "the date emits nothing."),
    "check": _command("cli.operations", "Verify the journal (trial balance, balanced entries) and list every unsettled "
                      "item with its age. Exit 8 on a breach."),
    "report": _command("cli.reports", "A report from the read models: --on for business time, --as-of for what was "
                       "recorded by then."),
    "serve": _command("cli.serve", "Serve the HTTP API under /api/v1 and the web dashboard at /."),
    "probe": _command("cli.serve", "Ask a running API whether it is ready (GET /readyz): exit 0 when it is, 1 when "
                      "not (container health checks)."),
    "agreement": _group("cli.agreements", "agreement_app", "Funding agreements (perjanjian pendanaan): sign, show, "
                        "amend or confirm the budget."),
    "audit": _group("cli.audit", "audit_app", "Tamper evidence: every event is linked into a hash chain when it is "
                    "written. verify, seal, prove, check-proof; and the audit trail."),
    "claim": _group("cli.claims", "claim_app", "Benefit claims (klaim): submit, approve, reject, pay."),
    "contribution": _group("cli.contributions", "contribution_app", "Contributions (iuran): pay one member or a whole "
                           "cohort."),
    "member": _group("cli.members", "member_app", "Members (peserta): enrol, import a cohort, show, change payer, "
                     "forget."),
    "reconcile": _group("cli.money", "reconcile_app", "Payer bank statements (rekening koran): import, match to "
                        "invoices, resolve."),
    "refund": _group("cli.money", "refund_app", "Contributions owed back to payers after a death: settle."),
    "project": _group("cli.projections", "project_app", "Read models (projections): run, status, rebuild."),
    "region": _group("cli.regions", "region_app", "Regions: workforce figures for UCJ coverage."),
    "relay": _group("cli.broker", "relay_app", "Outbox relay: publish every event, in order, to the broker (at least "
                    "once)."),
    "consumer": _group("cli.broker", "consumer_app", "Command consumer: execute command messages from the broker, "
                       "reply, dead-letter."),
    "subscriber": _group("cli.broker", "subscriber_app", "Example subscriber: active members per region, kept from "
                         "the event stream."),
    "principal": _group("cli.principals", "principal_app", "Principals (users and services): add, list, revoke, "
                        "rotate a token, set a web password. Role admin."),
    "keys": _group("cli.keys", "keys_app", "Master key: its epoch, and rotation (every member key re-wrapped, the old "
                   "master key destroyed, so old copies of the key table open nothing)."),
    "bulk": _group("cli.bulk", "bulk_app", "Bulk commands of more than one batch: what is in progress, and how to "
                   "resume it."),
}
assert len(VERBS) <= VERB_COUNT_MAX


def summary(name: str) -> str:
    """The listed summary of the verb ``name`` (also a group's own help, so the two never differ)."""
    return VERBS[name].summary
