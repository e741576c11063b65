"""``python -m bench.faults``: see the package's docstring."""

import contextlib
import sys

from bench.faults.runner import main

if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
    sys.exit(130)
