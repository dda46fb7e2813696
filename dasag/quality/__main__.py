"""``python -m dasag.quality SUITE --out DIR``: the quality harness of an installed package."""

import sys

from dasag.quality.cli import main

sys.exit(main())
