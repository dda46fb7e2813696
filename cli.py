"""Run Direct Ascent Synthesis from a config: ``python cli.py fit --config configs/demo.yaml``."""

import sys

from dasag.cli import main

if __name__ == "__main__":
    sys.exit(main())
