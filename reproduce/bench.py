"""The speed bench (step time, TFLOP/s, memory, every speed switch): ``python reproduce/bench.py --out DIR``.

The bench itself is :mod:`dasag.speed.bench` (installed with the package); ``--help`` lists its options.
"""

import sys

from dasag.speed.bench import main

if __name__ == "__main__":
    sys.exit(main())
