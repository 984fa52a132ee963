"""``python -m sbidic.cli``: the ``sbidic`` command."""

import sys

from sbidic.cli import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
