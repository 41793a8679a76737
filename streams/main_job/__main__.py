"""Entry point of `python -m streams.main_job`."""

import sys

from streams.main_job.cli import main

sys.exit(main())
