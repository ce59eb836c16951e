"""The Discord front end: the same engine as the terminal, carried over the gateway.

One module per job: `bot` (the client and its start-up), `cogs/` (slash commands and the
message listener, one feature each), `desk` (running encounters: start, turns, end, resume),
`batching`, `ratelimit`, `splitting` and `render` (pure helpers), `posting` (sending to
Discord), `access` (the one allow-list check), `user_errors` (domain errors → short user
messages), `party` (registered characters as the engine's party), `library` (the content,
reloaded without a restart), `links` (thread ↔ session, kept in the store), `serve` and
`sync` (what the CLI commands run). docs/discord.md is the user's guide.
"""
