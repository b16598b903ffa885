"""`python -m tfmtl.data.scenes --out DIR --num N` (see `cli`)."""

import sys

from tfmtl.data.scenes.cli import main

sys.exit(main())
