import sys

from dlstart.cli import main

sys.exit(main())
