"""Foundry VTT: pushing granted items and awarded XP to characters' actors.

`base.py` holds the `ItemRelay` Protocol the engine talks to, `foundry.py` the client of the
Foundry REST API relay (VTT_RELAY_URL), `push.py` the one routine that delivers a list of
grants through any relay (used at resolution and by `mardonar vtt retry`).
"""
