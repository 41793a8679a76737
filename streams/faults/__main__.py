"""Entry point of `python -m streams.faults`."""

import sys

from streams.faults.cli import main

sys.exit(main())
