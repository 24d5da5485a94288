import sys

from drivers.simulator.cli import main

sys.exit(main())
