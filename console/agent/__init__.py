"""The on-device agent, copied to devices.

Imports only console.core.protocol and console.core.manifest from the console.
"""
