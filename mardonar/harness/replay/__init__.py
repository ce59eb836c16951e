"""`mardonar replay`: recorded sessions played again (issue #6), one concern a module.

`results` (what a replay found), `reading` (finding transcripts, reading their headers and
the table's actions, what one run loads once), `play` (the actions on a headless engine),
`diff` (recording against replay, turn by turn and at the end), `run` (strict replay),
`parallel` (strict replay in forked workers), `live` (against the configured model) and
`render` (text, JSON and GitHub reports). Imports point one way: run → parallel → reading →
results, so no module imports one that imports it.
"""
