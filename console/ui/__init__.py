"""The window (PySide6 + pyqtgraph). The only layer that imports Qt; drives session/devices.

Qt classes come from :mod:`console.ui.qt` (the one module that imports the
binding). pyqtgraph chooses its binding when it is first imported, which in
a plot module happens before ``console.ui.qt`` (imports are sorted): so the
choice is made here, in the package every window module imports first.
"""

import os

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
