"""`python -m kanrun.cli ...` is the `kanrun` command."""

import sys

from kanrun.cli.main import main

sys.exit(main())
