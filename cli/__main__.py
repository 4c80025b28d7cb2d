"""``python -m graphtools.cli``: the same as the ``graphtools`` command."""

import sys

from graphtools.cli import main

if __name__ == "__main__":
    sys.exit(main())
