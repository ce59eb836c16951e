"""The TUI's widgets, one family per module; they render what they are given, nothing more."""
