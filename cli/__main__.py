"""``python -m cli``: the same as the ``jamsos`` script."""

from cli.app import main

main()
