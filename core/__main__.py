"""``python -m core``: see :mod:`core.cli`."""

import sys

from .cli.main import main

sys.exit(main())
