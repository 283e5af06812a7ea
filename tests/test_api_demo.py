"""The demo replayed through the HTTP API into a fresh store gives the same reports, byte for byte, as the demo run
in process by the CLI: the HTTP face adds nothing to and loses nothing from what the commands record."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.app import app
from cli.seed_demo import DEMO_END, SCHEMES, run_demo
from eventstore.bootstrap import Ledger
from tests.api_replay import HttpExecutor
from tests.api_support import client

SCALE = 0.02
"""2 % of the seed cohorts: every kind of command the demo runs, in seconds."""
REPORT_CLOCK = f"{DEMO_END + timedelta(days=1)}T10:00:00+07:00"
"""The reports' clock (their ``generated_at``), the same for both stores: the day after the demo ends."""


def _reports(store: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """`jamsos report NAME --json` of every report the demo prints, as the CLI writes them."""
    monkeypatch.setenv("JAMSOS_CLOCK", REPORT_CLOCK)
    runner = CliRunner()
    out: dict[str, bytes] = {}
    queries: list[tuple[str, list[str]]] = [(n, []) for n in ("members", "balances", "claims", "coverage",
                                                              "trial-balance")]
    queries += [(f"reconciliation {s.code}", ["--agreement", s.code]) for s in SCHEMES]
    for label, extra in queries:
        result = runner.invoke(app, ["report", label.split()[0], *extra, "--on", str(DEMO_END), "--store",
                                     str(store), "--json"])
        assert result.exit_code == 0, result.output
        out[label] = result.stdout_bytes
    monkeypatch.delenv("JAMSOS_CLOCK")
    return out


@pytest.mark.slow
def test_the_demo_replayed_through_http_gives_the_same_reports_as_the_cli(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMSOS_KEY_FILE", str(tmp_path / "jamsos.key"))  # one pepper: the same member ids
    (tmp_path / "cli").mkdir()
    (tmp_path / "http").mkdir()
    in_process = run_demo(str(tmp_path / "cli" / "jamsos.db"), scale=SCALE, quiet=True)
    executors: list[HttpExecutor] = []

    def over_http(ledger: Ledger) -> HttpExecutor:
        executors.append(HttpExecutor(client(ledger), ledger, tmp_path / "http" / "statements"))
        return executors[0]

    over = run_demo(str(tmp_path / "http" / "jamsos.db"), scale=SCALE, quiet=True, executor_for=over_http)
    assert executors and executors[0].requests > 50, "the replay went through HTTP"
    assert "principal.set_password" in executors[0].kinds, "the web users' passwords were set over their route"

    def figures(summary: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in summary.items() if k not in ("store", "web_users_file")}

    assert figures(over) == figures(in_process)
    cli_reports, http_reports = _reports(tmp_path / "cli" / "jamsos.db", monkeypatch), _reports(
        tmp_path / "http" / "jamsos.db", monkeypatch)
    assert list(http_reports) == list(cli_reports)
    for label, text in cli_reports.items():
        assert b'"rows"' in text or b'"totals"' in text
        assert http_reports[label] == text, f"{label} differs"
