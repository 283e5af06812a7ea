"""Golden files for the registers' reports: every report of ``projections.reports.REPORTS`` (with and without
``--agreement``), on several days and one ``--as-of``, dumped as the JSON ``jamsos report --json`` prints, so a
change to how the reports are computed can be checked byte for byte (``--compare``) and timed per report.

    python -m bench.report_golden --store COPY/jamsos.db --out golden.json          # before
    python -m bench.report_golden --store COPY/jamsos.db --compare golden.json      # after: exits 1 on a difference

Give it a *copy* of a demo store: catching the read models up writes to the views database.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cli.seed_demo import DEMO_END
from eventstore.bootstrap import bootstrap
from eventstore.clock import WIB
from projections.reports import REPORTS, build_report

DAYS = (date(2025, 1, 31), date(2025, 6, 15), date(2025, 7, 1), date(2026, 1, 31), date(2026, 5, 31), DEMO_END)
AS_OF = datetime(2026, 2, 12, 12, 0, tzinfo=WIB)
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=WIB)
"""A fixed clock instant: ``generated_at`` is part of the report."""


def cases(agreements: list[str]) -> list[tuple[str, date, datetime | None, str | None]]:
    """(report, on, as_of, agreement): every report on every day, each agreement on the demo's end and one
    mid-run day, and every report once as of a recorded time."""
    out: list[tuple[str, date, datetime | None, str | None]] = []
    for name in REPORTS:
        out += [(name, day, None, None) for day in DAYS]
        out += [(name, day, None, code) for code in agreements for day in (date(2026, 1, 31), DEMO_END)]
        out += [(name, date(2026, 1, 31), AS_OF, None), (name, date(2026, 1, 31), AS_OF, agreements[0])]
    return out


def dump(store: str) -> dict[str, Any]:
    ledger = bootstrap(store, create=False)
    try:
        first = build_report(ledger.store, "members", DEMO_END, None, NOW)  # catches the read models up
        agreements = sorted(r[0] for r in first["sections"]["by_agreement"]["rows"] if r[0] != "SELF")
        out: dict[str, Any] = {}
        for name, on, as_of, agreement in cases(agreements):
            key = f"{name} on={on} as_of={as_of.isoformat() if as_of else None} agreement={agreement}"
            started = time.perf_counter()
            try:
                report: Any = build_report(ledger.store, name, on, as_of, NOW, agreement)
            except Exception as err:  # a refusal (an agreement not signed yet) is part of the golden file
                report = {"error": type(err).__name__, "message": str(err)}
            elapsed = time.perf_counter() - started
            out[key] = json.loads(json.dumps(report, default=str))
            print(f"{elapsed * 1000:9.1f} ms  {key}", file=sys.stderr)
        return out
    finally:
        ledger.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="a COPY of a demo store (jamsos.db)")
    parser.add_argument("--out", help="write the golden file here")
    parser.add_argument("--compare", help="compare with this golden file (exit 1 on any difference)")
    args = parser.parse_args(argv)
    reports = dump(args.store)
    text = json.dumps(reports, indent=1, sort_keys=True)
    if args.out:
        Path(args.out).write_text(text)
    if args.compare:
        golden = json.loads(Path(args.compare).read_text())
        bad = [k for k in sorted(set(golden) | set(reports)) if golden.get(k) != reports.get(k)]
        for key in bad:
            print(f"DIFFERS: {key}", file=sys.stderr)
        print(f"{len(reports) - len(bad)}/{len(reports)} reports identical", file=sys.stderr)
        if bad or Path(args.compare).read_text() != text:
            sys.exit(1)


if __name__ == "__main__":
    main()
