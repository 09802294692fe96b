"""`python -m aggregator`: the same as the `aggregator` command."""

import sys

from aggregator.cli import main

if __name__ == "__main__":  # not when a spawned worker process imports the main module
    sys.exit(main())
