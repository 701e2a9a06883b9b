"""Devices the console runs agents on: the built-in one and SSH. Qt-free."""
