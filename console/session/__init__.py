"""Runs and recorded sessions: the run controller, replay, compare, export. Qt-free."""
