"""Rooms, pure: the model (model.py) and the state machine with its events (machine.py).

Nothing here does I/O or imports asyncio; the stores live in store/, the service in services/.
"""
