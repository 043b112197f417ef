import sys

from tiny_models.cli import main

sys.exit(main())
