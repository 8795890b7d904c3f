"""``python -m tools.evidence``: the evidence build (see build.py)."""

import sys

from tools.evidence.build import main

sys.exit(main())
