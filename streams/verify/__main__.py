"""Entry point of `python -m streams.verify`."""

import sys

from streams.verify.cli import main

sys.exit(main())
