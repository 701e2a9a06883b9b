import sys

from console.launcher import main

sys.exit(main())
