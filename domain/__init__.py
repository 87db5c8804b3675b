"""The pure batchq model: aggregates, events, state machines and policies.

Nothing here performs I/O, reads a clock or draws random numbers: time, ids and
random draws arrive as arguments, so every decision is a plain function call and
every replay is reproducible.
"""
