"""The authorisation matrix through the real CLI (``jamsos --token …``): for a command of each role and for reads,
no token (the local admin acts, but four eyes still binds it), a wrong token, a revoked one, an out-of-scope one,
the wrong role and the right one — only the last runs, and a refusal writes nothing (docs/rules.md#principals)."""

from __future__ import annotations

import pytest

from tests.test_cli import AGREEMENT, PAID, PAID_NAME, Cli, claim_args, cli, template  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

COMMANDS: dict[str, tuple[str, list[str]]] = {  # in this order: the approval closes the member (a death claim)
    "contribution pay": ("operator", ["contribution", "pay", "--nik", PAID, "--periods", "2025-02", "--amount",
                                      "16800", "--reference", "SP2D-M-2", "--on", "2025-01-25"]),
    "claim approve": ("claims-officer", ["claim", "approve", "CL-M", "--on", "2025-01-25"]),
    "agreement amend-budget": ("budget-owner", ["agreement", "amend-budget", AGREEMENT, "--budget", "650000000",
                                                "--reason", "APBD-P", "--on", "2025-01-25"]),
    "member forget": ("data-protection-officer", ["member", "forget", PAID, "--on", "2025-01-26"]),
}


def tokens(cli: Cli, role: str, slug: str) -> dict[str, list[str]]:
    right = cli.grant(f"m-{slug}", role)
    revoked = cli.grant(f"r-{slug}", role)
    cli.ok("principal", "revoke", f"r-{slug}", "--reason", "left the office")
    other = "auditor" if role != "auditor" else "operator"
    return {
        "wrong-token": ["--token", right[1][:-4] + ("AAAA" if not right[1].endswith("AAAA") else "BBBB")],
        "revoked": revoked,
        "out-of-scope": cli.grant(f"x-{slug}", role, scope="payer:PEMKOT-OTHER"),
        "wrong-role": cli.grant(f"w-{slug}", other),
        "right": right,
    }


def test_each_role_s_command_runs_only_for_the_right_token(cli: Cli) -> None:
    cli.ok(*claim_args("CL-M", PAID))  # submitted by the local admin
    cli.refused(3, "principal", "four eyes", *COMMANDS["claim approve"][1])  # no token: the local admin, four eyes
    for name, (role, args) in COMMANDS.items():
        senders = tokens(cli, role, role)
        for variant in ("wrong-token", "revoked"):
            cli.refused(9, "token", "", *senders[variant], *args)
        for variant in ("out-of-scope", "wrong-role"):
            cli.refused(10, "principal", "may not", *senders[variant], *args)
        before = cli.events()
        done = cli.ok(*senders["right"], *args)
        assert done and cli.events() > before, name
        actors = set(cli.actors_after(before))
        assert actors == {f"m-{role}"}, (name, actors)


def test_reads_follow_the_role_and_the_scope(cli: Cli) -> None:
    auditor = cli.grant("aud", "auditor")
    scoped = cli.grant("fin-skw", "finance", scope="payer:PEMKOT-SKW")
    other = cli.grant("fin-bky", "finance", scope="payer:PEMKAB-BKY")
    operator = cli.grant("op", "operator")
    assert cli.ok(*auditor, "report", "trial-balance", "--on", "2025-01-31")["report"] == "trial-balance"
    cli.refused(10, "principal", "needs the role", *operator, "report", "trial-balance", "--on", "2025-01-31")
    cli.refused(10, "principal", "whole ledger", *scoped, "report", "trial-balance", "--on", "2025-01-31")
    assert cli.ok(*scoped, "report", "reconciliation", "--agreement", AGREEMENT, "--on", "2025-01-31")
    cli.refused(10, "principal", "outside its scope", *other, "report", "reconciliation", "--agreement", AGREEMENT,
                "--on", "2025-01-31")
    cli.refused(10, "principal", "needs the role", *auditor, "member", "show", PAID, "--reveal", "--purpose",
                "audit sampling of members")
    dpo = cli.grant("dpo", "data-protection-officer")
    shown = cli.ok(*dpo, "member", "show", PAID, "--reveal", "--purpose", "verifikasi ahli waris")
    assert shown["personal"]["name"] == PAID_NAME
    log = cli.ok(*auditor, "report", "access", "--on", "2025-01-31")
    assert [(r[2], r[4]) for r in log["sections"]["access"]["rows"]] == [("dpo", "verifikasi ahli waris")]
    assert PAID_NAME not in str(log)
    cli.refused(2, "token", "operating-system user", *auditor, "keys", "rotate")  # the key file is the server's
