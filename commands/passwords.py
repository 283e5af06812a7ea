"""Web passwords of principals: the policy, and argon2id hashing and verification (docs/rules.md#principals).

A password is chosen by a person, so unlike a token (256 random bits, a SHA-256 suffices) it is kept only as a
slow, salted argon2id hash (``argon2.PasswordHasher``'s defaults: RFC 9106's second recommended profile). The face
hashes it (:func:`hash_password`, a new salt on each attempt) and the command carries only the hash; the password is
never stored, logged or shown back.

Invariants:
- :func:`hash_password` refuses (``InvalidInput("password", …)``) a password shorter than :data:`PASSWORD_LEN_MIN`
  or longer than :data:`PASSWORD_LEN_MAX` characters, one equal to or containing the principal's name (ignoring
  case), or one made of a single repeated character.
- :func:`verify_password` answers True or False and never raises for a wrong password or a malformed hash.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ledger.errors import InvalidInput

PASSWORD_LEN_MIN = 12
PASSWORD_LEN_MAX = 128

HASHER = PasswordHasher()
"""The one hasher (argon2id, the library's default cost): its parameters are in every hash it writes."""


def check_password_policy(password: str, name: str) -> None:
    """Refuse a password the policy does not allow (see the module docstring), naming the field ``password``."""
    if len(password) < PASSWORD_LEN_MIN:
        raise InvalidInput("password", f"too short: at least {PASSWORD_LEN_MIN} characters")
    if len(password) > PASSWORD_LEN_MAX:
        raise InvalidInput("password", f"too long: at most {PASSWORD_LEN_MAX} characters")
    if name and name.casefold() in password.casefold():
        raise InvalidInput("password", "must not be or contain the principal's name")
    if len(set(password)) == 1:
        raise InvalidInput("password", "must not be one character repeated")


def hash_password(password: str, name: str) -> str:
    """The argon2id hash (PHC string) of ``password`` for principal ``name``, once the policy allows it."""
    check_password_policy(password, name)
    return HASHER.hash(password)


def verify_password(password_argon2: str, password: str) -> bool:
    """Whether ``password`` is the one of this hash; False for a wrong password or a hash that is not argon2."""
    try:
        return HASHER.verify(password_argon2, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_argon2: str) -> bool:
    """Whether the hash was made with other parameters than :data:`HASHER`'s (a login may then rehash it)."""
    try:
        return HASHER.check_needs_rehash(password_argon2)
    except (InvalidHashError, ValueError):
        return True
