"""Golden outputs of whole `jamsos report` and `jamsos agreement show` commands, byte for byte: stdout, stderr,
exit code and the files of ``--csv`` / ``--xlsx``, for the local admin and for principals of every kind (an
auditor, an operator, a claims officer, a scoped finance officer, a revoked, a rotated and an expired token, a
malformed one), on a copy of the demo store, with the clock frozen. It checks what ``bench/report_golden.py``
cannot: the command line around the report (who may read it, its refusals, its renderings), for a change to how
a report command runs.

    python -m bench.cli_golden --demo-store demo/jamsos.db --out cli-golden.json       # before
    python -m bench.cli_golden --demo-store demo/jamsos.db --compare cli-golden.json   # after: exit 1 on a difference

The store is copied: the principals added, and the read models caught up, write to the copy only.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bench.common import copy_store

SETUP_CLOCK = "2026-11-21T10:00:00+07:00"
CLOCK = "2026-11-28T12:00:00+07:00"
"""After the expired principal's last day (``EXPIRES_ON``)."""
EXPIRES_ON = "2026-11-25"
JAMSOS = [sys.executable, "-m", "cli"]


def run(args: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([*JAMSOS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    return {"code": proc.returncode, "out": proc.stdout, "err": proc.stderr}


def files_of(directory: Path) -> dict[str, str]:
    """Every file under ``directory``: CSV as text, an XLSX as its parts (without the creation time)."""
    out: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        if path.suffix == ".csv":
            out[path.name] = path.read_text()
        elif path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as book:
                for part in sorted(book.namelist()):
                    if part != "docProps/core.xml":
                        out[f"{path.name}:{part}"] = book.read(part).decode("utf-8", "replace")
    return out


def agreements(store: Path) -> list[tuple[str, str]]:
    """(code, payer id) of every agreement, from the registers."""
    views = sqlite3.connect(store.with_suffix(".views.db"))
    try:
        (generation,) = views.execute(
            "SELECT generation FROM jamsos_projection_positions WHERE name = 'registers'").fetchone()
        return sorted(views.execute(f"SELECT code, payer_id FROM agreements_g{generation}").fetchall())
    finally:
        views.close()


def dump(store: Path, work: Path) -> dict[str, Any]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("JAMSOS_")}
    env = {**base, "JAMSOS_STORE": str(store), "COLUMNS": "160", "NO_COLOR": "1", "JAMSOS_CLOCK": SETUP_CLOCK}
    first = run(["report", "members", "--json"], work, env)  # catches the read models up
    assert first["code"] == 0, first
    codes = agreements(store)
    (code_a, payer_a), (code_b, _) = codes[0], next(c for c in codes if c[1] != codes[0][1])
    tokens: dict[str, str] = {}

    def grant(name: str, role: str, *extra: str) -> None:
        added = run(["principal", "add", name, "--role", role, *extra, "--json"], work, env)
        assert added["code"] == 0, added
        tokens[name] = json.loads(added["out"])["token"]

    grant("aud", "auditor")
    grant("op", "operator")
    grant("clm", "claims-officer")
    grant("fin-a", "finance", "--scope", f"payer:{payer_a}")
    grant("gone", "auditor")
    assert run(["principal", "revoke", "gone", "--reason", "pindah tugas"], work, env)["code"] == 0
    grant("turned", "auditor")
    old = tokens["turned"]
    assert run(["principal", "rotate-token", "turned"], work, env)["code"] == 0
    tokens["turned-old"] = old
    grant("late", "auditor", "--expires-on", EXPIRES_ON)
    tokens["malformed"] = "jst1.nonsense"
    tokens["unknown"] = tokens["aud"][:-4] + ("AAAA" if not tokens["aud"].endswith("AAAA") else "BBBB")
    env["JAMSOS_CLOCK"] = CLOCK
    cases: dict[str, list[str]] = {}
    for name in ("members", "claims", "coverage", "balances"):
        cases[f"{name} json"] = ["report", name, "--json"]
        cases[f"{name} table"] = ["report", name]
        cases[f"{name} on json"] = ["report", name, "--on", "2026-01-31", "--json"]
        cases[f"{name} agreement json"] = ["report", name, "--agreement", code_a, "--json"]
    cases |= {
        "members on table": ["report", "members", "--on", "2025-06-15"],
        "members section": ["report", "members", "--section", "by_region"],
        "members section unknown": ["report", "members", "--section", "nope"],
        "members section json": ["report", "members", "--section", "by_region", "--json"],
        "members csv": ["report", "members", "--on", "2026-05-31", "--csv", "out"],
        "claims xlsx": ["report", "claims", "--xlsx", "out/claims.xlsx"],
        "coverage csv xlsx json": ["report", "coverage", "--csv", "out", "--xlsx", "out/cov.xlsx", "--json"],
        "members as-of": ["report", "members", "--as-of", "2026-02-12T12:00:00+07:00", "--on", "2026-01-31",
                          "--json"],
        "members as-of future": ["report", "members", "--as-of", "2027-02-12T12:00:00+07:00", "--json"],
        "members on future": ["report", "members", "--on", "2027-01-01", "--json"],
        "members on bad": ["report", "members", "--on", "2026-13-01", "--json"],
        "members agreement unknown": ["report", "members", "--agreement", "NOPE-2025", "--json"],
        "members agreement before signing": ["report", "members", "--agreement", code_a, "--on", "2020-01-01",
                                             "--json"],
        "members period": ["report", "members", "--period", "2026-01", "--json"],
        "unknown report": ["report", "nope", "--json"],
        "agreement show json": ["agreement", "show", code_a, "--json"],
        "agreement show table": ["agreement", "show", code_b],
        "agreement show on json": ["agreement", "show", code_b, "--on", "2026-01-31", "--json"],
        "agreement show on table": ["agreement", "show", code_a, "--on", "2025-06-15"],
        "agreement show unknown": ["agreement", "show", "NOPE-2025", "--json"],
        "agreement show before signing": ["agreement", "show", code_a, "--on", "2020-01-01", "--json"],
        "agreement show as-of": ["agreement", "show", code_a, "--as-of", "2026-02-12T12:00:00+07:00", "--on",
                                 "2026-01-31", "--json"],
        "trial-balance": ["report", "trial-balance", "--json"],
    }
    who: dict[str, list[tuple[str, list[str]]]] = {
        "aud": [("members", []), ("balances", []), ("claims", ["--on", "2026-01-31"])],
        "op": [("members", []), ("coverage", []), ("balances", []), ("claims", [])],
        "clm": [("claims", []), ("members", [])],
        "fin-a": [("members", ["--agreement", code_a]), ("balances", ["--agreement", code_a]),
                  ("members", ["--agreement", code_b]), ("members", []), ("members", ["--agreement", "NOPE-2025"]),
                  ("trial-balance", [])],
        "gone": [("members", [])], "turned-old": [("members", [])], "turned": [("members", [])],
        "late": [("members", [])], "malformed": [("members", [])], "unknown": [("members", [])],
    }
    for principal, reads in who.items():
        for name, extra in reads:
            cases[f"{principal} {name} {' '.join(extra)}".strip()] = ["--token", tokens[principal], "report", name,
                                                                     *extra, "--json"]
    for principal, code in (("fin-a", code_a), ("fin-a", code_b), ("clm", code_a), ("aud", code_b)):
        cases[f"{principal} agreement show {code}"] = ["--token", tokens[principal], "agreement", "show", code,
                                                        "--json"]
    cases["op members bad on"] = ["--token", tokens["op"], "report", "members", "--on", "2026-13-01", "--json"]
    cases["clm members bad on"] = ["--token", tokens["clm"], "report", "members", "--on", "2026-13-01", "--json"]
    out: dict[str, Any] = {}
    for key, args in cases.items():
        target = work / "out"
        if target.exists():
            for path in sorted(target.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
        target.mkdir(exist_ok=True)
        result = run(args, work, env)
        result["files"] = files_of(target)
        out[key] = result
        print(f"  {result['code']:>3}  {key}", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo-store", default="demo/jamsos.db", help="the demo store to copy")
    parser.add_argument("--out", help="write the golden file here")
    parser.add_argument("--compare", help="compare with this golden file (exit 1 on any difference)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="jamsos-cli-golden-") as tmp:
        work = Path(tmp)
        store = copy_store(Path(args.demo_store), work / "store")
        outputs = dump(store, work)
    if args.out:
        Path(args.out).write_text(json.dumps(outputs, indent=1, sort_keys=True))
    if args.compare:
        golden = json.loads(Path(args.compare).read_text())
        bad = [k for k in sorted(set(golden) | set(outputs)) if golden.get(k) != outputs.get(k)]
        for key in bad:
            print(f"DIFFERS: {key}", file=sys.stderr)
            for part in ("code", "out", "err", "files"):
                if (golden.get(key) or {}).get(part) != (outputs.get(key) or {}).get(part):
                    print(f"  {part}: {str((golden.get(key) or {}).get(part))[:300]!r}\n"
                          f"   now: {str((outputs.get(key) or {}).get(part))[:300]!r}", file=sys.stderr)
        print(f"{len(outputs) - len(bad)}/{len(outputs)} commands identical", file=sys.stderr)
        if bad:
            sys.exit(1)


if __name__ == "__main__":
    main()
