#!/usr/bin/env python3
"""AdaIN Live: real-time arbitrary style transfer. Run ``python main.py --help``."""
import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
