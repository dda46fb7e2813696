"""Measure each difference from DAS-AG v2 on one step: ``python reproduce/fidelity.py [--write docs/fidelity.md]``.

The measurement itself is :mod:`dasag.quality.fidelity` (installed with the package).
"""

import sys

from dasag.quality.fidelity import main

if __name__ == "__main__":
    sys.exit(main())
