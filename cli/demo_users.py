"""The demo's web users: three principals with a web password, scoped as a real deployment would scope them.

They are added by the server's local admin (``jamsos principal add``), and their passwords set by the demo's admin
principal through the command every face runs (``principal.set_password``; over HTTP in the replay of the tests).
A password is random (``secrets.token_urlsafe``) unless ``JAMSOS_DEMO_PASSWORD`` gives one for all three (tests,
screenshots); they are written to ``web-users.txt`` beside the store, 0600, and nowhere else — the ledger keeps only
their argon2id hashes (docs/rules.md#principals).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from commands.authorise import local_actor, new_token
from commands.messages import AddPrincipal, SetPrincipalPassword
from commands.passwords import check_password_policy, hash_password
from eventstore.files import FILE_MODE, private_dir
from ledger.values import Role

if TYPE_CHECKING:
    from cli.seed_demo import DemoRun, Scheme

PASSWORD_ENV = "JAMSOS_DEMO_PASSWORD"
WEB_USERS_FILE = "web-users.txt"
RANDOM_PASSWORD_BYTES = 12


@dataclass(frozen=True)
class WebUser:
    """A web user of the demo: its role, and its scope read from the seed schemes (the payer or the region whose
    ``payer_name`` it works for), so the scope follows :data:`cli.seed_demo.SCHEMES`."""

    name: str
    role: Role
    works_for: str
    scope_kind: str
    description: str

    def scope(self, schemes: tuple[Scheme, ...]) -> str:
        if self.scope_kind == "all":
            return "all"
        scheme = next(s for s in schemes if s.payer_name == self.works_for)
        return f"payer:{scheme.payer_id}" if self.scope_kind == "payer" else f"region:{scheme.region}"


WEB_USERS = (
    WebUser("keuangan.bengkayang", Role.FINANCE, "Pemkab Bengkayang", "payer",
            "BPKAD Bengkayang: the invoices, statements and reconciliation of its payer"),
    WebUser("auditor.bpk", Role.AUDITOR, "", "all", "BPK auditor: every report, read only"),
    WebUser("perencana.singkawang", Role.BUDGET_OWNER, "Pemkot Singkawang", "region",
            "Bappeda Singkawang: the agreements and budgets of its city"),
)


def demo_passwords() -> dict[str, str]:
    """Each web user's password: ``JAMSOS_DEMO_PASSWORD`` for all, or a random one each; checked against the
    policy before the demo starts (a refusal names ``password``)."""
    given = os.environ.get(PASSWORD_ENV)
    out = {u.name: given if given else secrets.token_urlsafe(RANDOM_PASSWORD_BYTES) for u in WEB_USERS}
    for name, password in out.items():
        check_password_policy(password, name)
    return out


def add_web_users(d: DemoRun, schemes: tuple[Scheme, ...], passwords: dict[str, str], folder: Path) -> Path:
    """Add the web users (as the local admin), set their passwords (as the demo's admin) and write the passwords
    to ``folder/web-users.txt`` (0600). Returns the file."""
    for user in WEB_USERS:
        _, digest = new_token(user.name)  # a principal has a token; the web users log in with their password
        d.run_as(local_actor(), AddPrincipal(
            command_id=f"demo:principal:{user.name}", name=user.name, roles=[user.role],
            scope=user.scope(schemes), description=user.description, token_sha256=digest))
        password = passwords[user.name]
        d.run(SetPrincipalPassword(command_id=f"demo:password:{user.name}", name=user.name,
                                   password_argon2=hash_password(password, user.name)),
              face_input={"password": password})
    path = folder / WEB_USERS_FILE
    lines = ["# The demo's web users (jamsos demo). Keep this file private; the ledger keeps only the hashes.",
             "# name\trole\tscope\tpassword"]
    lines += [f"{u.name}\t{u.role.value}\t{u.scope(schemes)}\t{passwords[u.name]}" for u in WEB_USERS]
    write_private(path, "\n".join(lines) + "\n")
    return path


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a new ``path``, 0600 whatever the umask: an earlier file is removed first, so no one who
    could open it can read the new one."""
    private_dir(path.parent)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # os.open's mode passes through the umask
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
