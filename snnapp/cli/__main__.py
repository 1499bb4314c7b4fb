"""``python -m snnapp.cli``: the same as the ``snnapp`` command."""

from snnapp.cli import main

main()
