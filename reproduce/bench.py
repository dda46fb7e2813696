"""The speed bench (step time, TFLOP/s, memory, every speed switch): ``python reproduce/bench.py --out DIR``.

The same as ``dasag bench`` (installed with the package); ``--help`` lists its options.
"""

import sys

from dasag.commands.bench import main

if __name__ == "__main__":
    sys.exit(main())
