import sys

from airlock_dev.stack.cli import main

sys.exit(main())
