"""The Textual playtest app of `mardonar play` (on a terminal; `--plain` for the REPL).

`app.PlayApp` is built on a `Playtest` (channels/terminal/playtest.py); textual is imported
only when this package is, so `mardonar --help` never pays for it.
"""
