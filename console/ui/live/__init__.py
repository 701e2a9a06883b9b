"""What the user watches while a run goes: the live view, the graphs, the run's docks.

The Qt-free data path (``data``, ``correlate``) feeds the widgets here; the
run's worker thread and its supervisor live here too. Nothing in this
package reads the session log: a finished run is browsed in ``sessions``.
"""
