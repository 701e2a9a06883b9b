"""The window (PySide6 + pyqtgraph). The only layer that imports Qt; drives session/devices."""
