"""``python -m statuses``: the same as the ``statuses`` command."""

import sys

from .cli import main

sys.exit(main())
