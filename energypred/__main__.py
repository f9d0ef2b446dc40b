"""``python -m energypred`` runs the CLI."""

import sys

from energypred.cli import main

sys.exit(main())
