"""Rooms, pure: the model (model.py), the state machine (machine.py: the handler table, with
the moves its handlers share in rules.py), its values (values.py) and its events (events.py).

Nothing here does I/O or imports asyncio; the stores live in store/, the service in services/.
"""
