"""`python -m mdit`: the `mdit` command."""

import sys

from mdit.cli import main

sys.exit(main())
