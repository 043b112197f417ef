import sys

from models_server.cli import main

sys.exit(main())
