"""``python -m duet``: the ``duet`` command."""

import sys

from duet.cli import main

if __name__ == "__main__":
    sys.exit(main())
