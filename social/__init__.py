"""People, pure: profiles (profile.py), the follow graph per app and blocks (graph.py), and
the paging of follow lists (paging.py).

Nothing here does I/O: the stores keep these values, the services apply these rules.
"""
