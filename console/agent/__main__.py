"""Entry point of the agent bundle (``python3 agent.pyz``) and of ``python -m console.agent``."""

import sys

from console.agent.main import main

sys.exit(main())
