"""``python -m kanrun`` is the ``kanrun`` command."""

import sys

from kanrun.cli.main import main

sys.exit(main())
