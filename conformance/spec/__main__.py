"""`python -m conformance.spec`: regenerate SPEC.md (see conformance.spec.specmd)."""

import sys

from conformance.spec.specmd import main

sys.exit(main())
