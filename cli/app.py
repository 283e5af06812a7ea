"""The `jamsos` command line. It only parses input into commands and calls :func:`commands.handlers.execute`
(writes) or a projection (reads); the verbs load on demand from
:data:`cli.verbs.VERBS` (``--help`` imports none of them).

Exit codes: 0 ok; 2 malformed input; 3 a business rule refused it (already paid, outside window...);
4 unknown agreement/member/claim; 5 command id reused with another payload; 6 concurrent change,
retry; 7 the audit chain is broken; 8 a check found a breach; 9 unauthenticated (no, unknown or revoked token);
10 forbidden (the role, the scope or a four-eyes rule); 1 anything unexpected.
Errors print one line: ``error: <field>: <reason>``.
"""

from __future__ import annotations

import sys

import typer

from cli.errors import print_error
from cli.root import app

try:  # typer >= 0.2x vendors click
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef]


def main() -> None:
    """Run the CLI. Usage errors (missing option, unknown choice) also print one ``error: <field>: <reason>``."""
    try:
        code = app(standalone_mode=False, prog_name="jamsos")
    except click_exceptions.NoArgsIsHelpError as exc:  # bare `jamsos`: the help (typer may have printed it)
        if exc.format_message().strip():
            exc.show()
        sys.exit(exc.exit_code)
    except click_exceptions.ClickException as exc:
        param = getattr(exc, "param", None)
        field = param.name if param is not None and param.name else "usage"
        print_error(field, f"{exc.format_message()} (see --help)")
        sys.exit(exc.exit_code)
    except typer.Abort:
        print_error("command", "aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
