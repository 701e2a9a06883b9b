"""The on-device agent. Copied to devices; imports only console.core.protocol and console.core.manifest."""
