#!/usr/bin/env python3
"""molt's QAPI code generator: schema -> C++20 and a reference manual.

Usage: qapi-gen.py -o OUTDIR [-p PREFIX] [--expect NAMES] SCHEMA
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from qapi.main import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
