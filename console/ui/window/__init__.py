"""The window's frame around the docks: menus, status bar, log pane, layout, preferences.

``console.ui.main_window`` assembles these with the docks of the other
packages; nothing here knows how a run works.
"""
