"""``python -m snnapp``: the same as the ``snnapp`` command."""

from snnapp.cli import main

main()
