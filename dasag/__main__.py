"""``python -m dasag <command> [options]``: the same as the ``dasag`` command."""

import sys

from dasag.commands import main

sys.exit(main())
