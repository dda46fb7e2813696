"""``python cli.py <command> [options]`` from a checkout, e.g. ``python cli.py fit --config configs/demo.yaml``:
the same as the ``dasag`` command (``dasag --help`` lists the commands)."""

import sys

from dasag.commands import main

if __name__ == "__main__":
    sys.exit(main())
