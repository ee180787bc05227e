import sys

from arbot.cli import main

sys.exit(main())
