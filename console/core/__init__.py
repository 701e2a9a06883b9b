"""Headless core: package format, protocol, statistics, session store. Never imports Qt."""
