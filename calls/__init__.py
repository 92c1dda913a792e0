"""Calls, pure: the call model and state machine (model.py, machine.py), the app policy
(policy.py) and the random-match pairing (matching.py).

Nothing here does I/O or reads a clock: callers pass `now`. The stores keep calls, the
services run these rules, the gateway and the media engine follow their events.
"""
