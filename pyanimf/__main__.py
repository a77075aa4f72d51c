import sys

from pyanimf.cli.main import main

sys.exit(main())
