"""Backends and the action gate. No Textual imports here: the CLI and the TUI both use this."""
