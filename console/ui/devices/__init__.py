"""The Devices dock: "This computer" and the saved SSH devices, their dialogs and prompts."""
