"""Regenerate a quality suite deterministically, or check that a stored one regenerates byte for byte.

    python reproduce/run.py transfer --out runs/transfer              # offline, real weights
    python reproduce/run.py transfer --out runs/transfer --check --classes 2 --seeds 1
    python reproduce/run.py das_ag_v2 --out runs/das_ag_v2 --samples 5 --devices 4

The same as ``dasag quality`` (installed with the package).
"""

import sys

from dasag.commands.quality import main

if __name__ == "__main__":
    sys.exit(main())
