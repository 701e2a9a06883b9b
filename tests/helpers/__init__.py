"""Test helpers. Anything that stands in for hardware this machine lacks is named Fake*."""
