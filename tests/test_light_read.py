"""The read-only report path (cli/light_read.py): it is taken when the registers serve the log's head, it loads none
of the write side, and every report and every refusal it gives is the full path's, byte for byte — the wrong role,
an agreement outside the scope, a scoped principal naming none, a revoked, rotated, expired, malformed or unknown
token. Each case runs twice in this process, once as it comes (the light path, checked to have been taken) and once
with the light path switched off (the full path: ``read_with``, ``build_report``)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import cli.light_read as light_read
from cli.light_read import CLOCK_PATTERN, clock_from, environment_handled
from projections.read_only import DEFAULT_STORE, REGISTER_TABLES, REGISTERS_VERSION, NotServing, sqlite_paths
from tests.test_cli import AGREEMENT, OTHER_AGREEMENT, Cli, Run, cli, template  # noqa: F401  (fixtures)

WRITE_SIDE = ("eventsourcing", "pydantic", "pydantic_core", "pydantic_settings", "cryptography", "commands.bulk",
              "commands.messages", "commands.handlers", "eventstore.store", "eventstore.bootstrap",
              "projections.runner", "projections.registers", "projections.reports", "ledger.events",
              "ledger.principal")
"""What a registers report on the light path must not import (the write side, and the full read path)."""

Paths = Callable[..., tuple[Run, Run, list[str]]]


@pytest.fixture
def frozen(cli: Cli) -> Cli:
    """The CLI with its clock frozen a day ahead (the reports' ``generated_at`` is the same on both paths), the
    read models caught up by a first report (the full path: the light one is taken only at the head)."""
    cli.env["JAMSOS_CLOCK"] = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
    assert cli.ok("report", "members")["report"] == "members"
    return cli


@pytest.fixture
def both(monkeypatch: pytest.MonkeyPatch) -> Paths:
    """``both(cli, *args)``: the command on the light path and on the full path, and what the light path did
    ("report", "refused" or "fell back") — asserting the two runs are the same."""
    original = light_read._light_read  # both light reads (reports, agreement show) go through it

    def run(cli: Cli, *args: str) -> tuple[Run, Run, list[str]]:
        taken: list[str] = []

        def spy(*a: Any, **k: Any) -> Any:
            try:
                result = original(*a, **k)
            except BaseException:
                taken.append("refused")
                raise
            taken.append("fell back" if result is None else "report")
            return result

        monkeypatch.setattr(light_read, "_light_read", spy)
        light = cli(*args)
        monkeypatch.setattr(light_read, "_light_read", lambda *a, **k: None)
        full = cli(*args)
        monkeypatch.setattr(light_read, "_light_read", original)
        assert (light.code, light.out, light.err) == (full.code, full.out, full.err), f"light: {light}\nfull: {full}"
        return light, full, taken

    return run


def test_every_registers_report_is_the_full_paths(frozen: Cli, both: Paths) -> None:
    for name in ("members", "claims", "coverage", "balances"):
        for extra in ([], ["--on", "2025-03-31"], ["--agreement", AGREEMENT], ["--agreement", "NOPE-2025"]):
            light, _, taken = both(frozen, "report", name, *extra, "--json")
            assert taken == ["refused" if "NOPE-2025" in extra else "report"], (name, extra, light)
    light, _, taken = both(frozen, "report", "members", "--on", "2025-06-30")  # the tables
    assert taken == ["report"] and "by_agreement" in light.out
    light, _, taken = both(frozen, "report", "claims", "--section", "totals")
    assert taken == ["report"] and light.out.startswith("report,on,zone,")


def test_agreement_show_is_the_full_paths(frozen: Cli, both: Paths) -> None:
    """``agreement show`` on the light path: every figure, the tables, the refusals, the principal's scope."""
    for extra in ([], ["--on", "2025-01-15"], ["--on", "2025-06-30"], ["--json"], ["--on", "2025-01-31", "--json"]):
        for code in (AGREEMENT, OTHER_AGREEMENT):
            light, _, taken = both(frozen, "agreement", "show", code, *extra)
            assert light.code == 0 and taken == ["report"], (code, extra, light)
    for extra, status in ((["NOPE-2025"], 4), ([AGREEMENT, "--on", "2020-01-01"], 4),
                          ([AGREEMENT, "--on", "2025-13-01"], 2)):
        light, _, taken = both(frozen, "agreement", "show", *extra, "--json")
        assert light.code == status and taken == ["refused"], (extra, light)
    scoped = frozen.grant("fin-skw", "finance", scope="payer:PEMKOT-SKW")
    officer = frozen.grant("clm", "claims-officer")
    assert frozen.ok("report", "members")  # the grants moved the log: catch the registers up again
    light, _, taken = both(frozen, *scoped, "agreement", "show", AGREEMENT, "--json")
    assert light.code == 0 and taken == ["report"], light
    for token, code in ((scoped, OTHER_AGREEMENT), (officer, AGREEMENT)):
        light, _, taken = both(frozen, *token, "agreement", "show", code, "--json")
        assert light.code == 10 and taken == ["refused"], light
    _, _, taken = both(frozen, "agreement", "show", AGREEMENT, "--as-of", datetime.now(UTC).isoformat(), "--json")
    assert taken == ["fell back"]


def test_arguments_refused_alike(frozen: Cli, both: Paths) -> None:
    for args, code in ((["--on", "2099-01-01"], 2), (["--on", "2025-13-01"], 2), (["--period", "2025-01"], 2),
                       (["--agreement", AGREEMENT, "--on", "2024-12-01"], 4), (["--section", "nope"], 2)):
        light, _, taken = both(frozen, "report", "members", *args)
        assert light.code == code and light.err.startswith("error: "), light
        assert taken in (["refused"], ["report"]), taken  # --section is checked on the report, after it


def test_the_principal_s_role_and_scope_are_checked_alike(frozen: Cli, both: Paths) -> None:
    operator = frozen.grant("op", "operator")
    officer = frozen.grant("clm", "claims-officer")
    scoped = frozen.grant("fin-skw", "finance", scope="payer:PEMKOT-SKW")
    region = frozen.grant("aud-61", "auditor", scope="region:61")
    assert frozen.ok("report", "members")  # the grants moved the log: catch the registers up again
    allowed = [(operator, "members", []), (operator, "coverage", []), (officer, "claims", []),
               (scoped, "members", ["--agreement", AGREEMENT]), (scoped, "balances", ["--agreement", AGREEMENT]),
               (region, "claims", ["--agreement", AGREEMENT])]
    for token, name, extra in allowed:
        light, _, taken = both(frozen, *token, "report", name, *extra, "--json")
        assert light.code == 0 and taken == ["report"], light
    refused = [(operator, "balances", [], "needs the role"), (officer, "members", [], "needs the role"),
               (officer, "members", ["--on", "2025-13-01"], "needs the role"),  # before the date is read
               (scoped, "members", ["--agreement", OTHER_AGREEMENT], "outside its scope"),
               (scoped, "members", ["--agreement", "NOPE-2025"], "outside its scope"),
               (scoped, "members", [], "must name an agreement"), (region, "coverage", [], "must name an agreement")]
    for token, name, extra, reason in refused:
        light, _, taken = both(frozen, *token, "report", name, *extra, "--json")
        assert light.code == 10 and reason in light.err and taken == ["refused"], light
    light, _, taken = both(frozen, *operator, "report", "members", "--on", "2025-13-01", "--json")
    assert light.code == 2 and taken == ["refused"], light


def test_a_revoked_rotated_expired_or_forged_token_is_refused_alike(frozen: Cli, both: Paths) -> None:
    gone = frozen.grant("gone", "auditor")
    frozen.ok("principal", "revoke", "gone", "--reason", "pindah tugas")
    turned = frozen.grant("turned", "auditor")
    frozen.ok("principal", "rotate-token", "turned")
    today = datetime.fromisoformat(frozen.env["JAMSOS_CLOCK"]).astimezone(light_read.WIB).date()
    late = frozen.ok("principal", "add", "late", "--role", "auditor", "--expires-on", today.isoformat())["token"]
    right = frozen.grant("right", "auditor")
    assert frozen.ok("report", "members")
    frozen.env["JAMSOS_CLOCK"] = (datetime.now(UTC) + timedelta(days=3)).isoformat(timespec="seconds")
    forged = right[1][:-4] + ("AAAA" if not right[1].endswith("AAAA") else "BBBB")
    for token, reason in ((gone[1], "was revoked on"), (turned[1], "rotated or wrong"), (late, "expired after"),
                          (forged, "rotated or wrong"), ("jst1.bm9ib2R5.secret", "unknown token"),
                          ("jst1.nonsense", "malformed token"), ("bearer", "malformed token")):
        light, _, taken = both(frozen, "--token", token, "report", "members", "--json")
        assert light.code == 9 and reason in light.err and taken == ["refused"], light
    light, _, taken = both(frozen, *right, "report", "members", "--json")
    assert light.code == 0 and taken == ["report"], light


def test_the_light_path_writes_nothing(frozen: Cli) -> None:
    import hashlib

    files = ("ledger.db", "ledger.views.db", "ledger.keys.db", "ledger.key")

    def digests() -> dict[str, str]:
        return {name: hashlib.sha256((frozen.root / name).read_bytes()).hexdigest() for name in files}

    before = digests()
    for name in ("members", "claims", "coverage", "balances"):
        assert frozen(*["report", name, "--json"]).code == 0
    assert digests() == before


def test_registers_behind_the_log_take_the_full_path(frozen: Cli, both: Paths) -> None:
    frozen.grant("aud", "auditor")  # an event the registers have not seen
    light, _, taken = both(frozen, "report", "coverage", "--json")
    assert light.code == 0 and taken == ["fell back"], light
    light, _, taken = both(frozen, "report", "coverage", "--json")  # caught up by the first: light again
    assert taken == ["report"]


def test_what_the_light_path_leaves_to_the_full_one(frozen: Cli, both: Paths) -> None:
    light, _, taken = both(frozen, "report", "members", "--as-of", datetime.now(UTC).isoformat(), "--json")
    assert light.code == 0 and taken == ["fell back"]
    for name in ("trial-balance", "audit", "nope"):
        _, _, taken = both(frozen, "report", name, "--json")
        assert taken == [], name  # not a registers report: the light path is not even opened
    frozen.env["JAMSOS_VIEWS"] = f"sqlite:///{frozen.root / 'ledger.views.db'}"  # a setting not read here
    _, _, taken = both(frozen, "report", "members", "--json")
    assert taken == ["fell back"]


def loaded_by(cli: Cli, args: list[str]) -> tuple[int, str, set[str]]:
    """Run ``jamsos ARGS`` in a fresh interpreter: its exit code, stdout, and every module it loaded."""
    probe = ("import sys\nfrom cli.app import main\nsys.argv = " + repr(["jamsos", *args]) +
             "\ntry:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
             "print('\\n' + repr(sorted(sys.modules)), file=sys.stderr)\nsys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=cli.root, env=cli.env, capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout, set(eval(proc.stderr.strip().splitlines()[-1]))  # the probe's own repr


def test_a_registers_report_imports_none_of_the_write_side(frozen: Cli) -> None:
    token = frozen.grant("op", "operator")
    assert frozen.ok("report", "members")
    for args in (["report", "members", "--json"], ["report", "claims", "--json"], ["report", "coverage", "--json"],
                 [*token, "report", "members", "--json"], ["report", "members", "--agreement", AGREEMENT, "--json"],
                 ["agreement", "show", AGREEMENT, "--json"]):
        code, out, modules = loaded_by(frozen, args)
        shown = json.loads(out)
        named = (shown["report"], args[args.index("report") + 1]) if "report" in args else (shown["agreement_id"],
                                                                                             AGREEMENT)
        assert code == 0 and named[0] == named[1], (args, out)
        heavy = {m for m in WRITE_SIDE if m in modules}
        assert not heavy, f"{args}: imported {sorted(heavy)}"
        assert "projections.read_only" in modules
        assert not {m for m in modules if m.startswith("rich")}, args  # --json prints no table
    code, _, modules = loaded_by(frozen, [*token, "report", "balances", "--json"])  # refused: loads no tariff
    assert code == 10 and not {m for m in WRITE_SIDE if m in modules}


def test_the_probe_can_see_the_write_side(frozen: Cli) -> None:
    frozen.grant("aud", "auditor")  # the registers are behind: the full path
    code, _, modules = loaded_by(frozen, ["report", "members", "--json"])
    assert code == 0 and {"eventsourcing", "pydantic", "projections.runner"} <= modules


# --- what the light path reads as the full one does -----------------------------------------------------------


def test_the_registers_version_and_tables_are_the_projection_s(frozen: Cli) -> None:
    from sqlalchemy import create_engine

    from projections.read_only import ServingRegisters
    from projections.registers import Registers

    assert Registers.version == REGISTERS_VERSION
    engine = create_engine(f"sqlite:///{frozen.root / 'ledger.views.db'}")
    try:
        with engine.connect() as conn:
            (generation,) = conn.exec_driver_sql(
                "SELECT generation FROM jamsos_projection_positions WHERE name = 'registers'").one()
        served, defined = ServingRegisters(engine, generation), Registers(generation)
        assert set(REGISTER_TABLES) == {t.name.rsplit("_g", 1)[0] for t in defined.metadata.sorted_tables}
        for name in REGISTER_TABLES:
            ours = [(c.name, c.type.compile(engine.dialect)) for c in served.table(name).columns]
            theirs = [(c.name, c.type.compile(engine.dialect)) for c in defined.table(name).columns]
            assert ours == theirs, name
            assert served.table(name).name == defined.table(name).name
    finally:
        engine.dispose()


def test_store_paths_are_the_settings_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from eventstore.settings import DEFAULT_STORE as SETTINGS_DEFAULT
    from eventstore.settings import StoreSettings

    for name in ("JAMSOS_KEY_FILE", "JAMSOS_VIEWS", "JAMSOS_KEYSTORE", "JAMSOS_STORE"):
        monkeypatch.delenv(name, raising=False)

    assert DEFAULT_STORE == SETTINGS_DEFAULT
    for url in ("jamsos.db", "sub/dir/x.db", "sqlite:///abs.db", "sqlite:////tmp/abs.db", f"{tmp_path}/a b.db"):
        settings = StoreSettings.from_url(url)
        paths = sqlite_paths(url, None)
        assert settings.sqlite_path == paths.store, url
        assert f"sqlite:///{paths.views}" == settings.default_views_url(), url
        assert f"sqlite:///{paths.keys}" == settings.default_keystore_url(), url
        assert paths.key_file == settings.default_key_file(), url
    for url in ("memory://", "postgresql://u@h/db", "sqlite:", "mysql://x/y"):
        with pytest.raises(NotServing):
            sqlite_paths(url, None)


def test_the_environment_it_reads() -> None:
    assert environment_handled({"JAMSOS_STORE": "x.db", "JAMSOS_TOKEN": "t", "JAMSOS_KEY_FILE": "k",
                                "JAMSOS_CLOCK": "2026-01-31T10:00:00+07:00", "HOME": "/root", "JAMSOS_TEST_AT": "1"})
    for other in ({"JAMSOS_VIEWS": "sqlite://"}, {"jamsos_store": "x.db"}, {"JAMSOS_HTTP_PORT": "x"},
                  {"JAMSOS_CIPHER_TOPIC": "x"}, {"CIPHER_TOPIC": "x"}, {"JAMSOS_MASTER_KEY": "x"},
                  {"JAMSOS_PROJECTION_BATCH": "x"}):
        assert not environment_handled(other), other


def test_a_frozen_clock_is_read_as_the_settings_read_it() -> None:
    from eventstore.bootstrap import clock_from_env

    for text in ("2026-01-31T10:00:00+07:00", "2026-01-31T10:00:00", "2026-01-31T03:00:00Z",
                 "2026-01-31T10:00:00.123456+08:00"):
        assert CLOCK_PATTERN.fullmatch(text)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("JAMSOS_CLOCK", text)
            expected = clock_from_env().now()
        assert clock_from({"JAMSOS_CLOCK": text}).now() == expected, text
    for text in ("1700000000", "2026-01-31", "2026-01-31 10:00", " 2026-01-31T10:00:00", ""):
        with pytest.raises(NotServing):
            clock_from({"JAMSOS_CLOCK": text})
