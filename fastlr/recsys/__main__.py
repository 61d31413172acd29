"""Entry point: ``python -m fastlr.recsys`` (see :mod:`fastlr.recsys.cli`)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
