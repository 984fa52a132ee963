"""``python -m sbidic``: the command-line interface (same as the ``sbidic`` command)."""

import sys

from sbidic.cli import main

if __name__ == "__main__":
    sys.exit(main())
