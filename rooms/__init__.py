"""Rooms: the pure state machine (model, machine) and the stores and service around it.

Import the submodules directly; this package imports nothing, so `rooms.model` and
`rooms.machine` stay free of asyncio and I/O.
"""
