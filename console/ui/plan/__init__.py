"""The Plan tab: open a test plan, check it, run it on every device at once, watch the grid.

``view`` is the tab, ``grid`` the devices × cells table with a live latency
curve per device, ``worker`` the Qt adapter around the Qt-free plan runner
(``console.session.plan_run``), ``feed`` the frames buffer between the device
threads and the display timer, ``sweep_dialog`` the settings sweep
(``console.session.sweep``) in a dialog.
"""
