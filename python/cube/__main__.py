"""``python3 -m cube``: see cli.py."""
import sys

from .cli import main

sys.exit(main())
