"""`python -m mdit.cli`: the `mdit` command (the sweep YAMLs run `python -m mdit.cli sweep-run ...`)."""

import sys

from mdit.cli import main

sys.exit(main())
