"""The channel-agnostic encounter engine: sessions, the turn loop, tools, dice and resolution.

Deliberately empty of imports: `import mardonar.engine.dice` must not drag in the turn loop,
the LLM client or anything else heavy (the CLI's start-up time and import-hygiene test rely
on each submodule being imported only where it is used).
"""
