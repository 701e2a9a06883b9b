"""The Model package dock and the package-signing (trust) dialog."""
