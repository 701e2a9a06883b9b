"""The frozen app's entry script: exactly the ``devicelab`` console script.

PyInstaller needs a script, not an entry point; this one only calls
``console.launcher.main`` so a frozen app and a pip-installed one parse the
same arguments (window, CLI, and ``--agent`` for the built-in device).
"""

import sys

from console.launcher import main

if __name__ == "__main__":
    sys.exit(main())
