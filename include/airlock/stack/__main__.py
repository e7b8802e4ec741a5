import sys

from airlock.stack.cli import main

sys.exit(main())
