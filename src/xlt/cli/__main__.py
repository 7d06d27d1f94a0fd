"""`python -m xlt.cli`: the `xlt` command without its entry point script."""

import sys

from xlt.cli import main

sys.exit(main())
