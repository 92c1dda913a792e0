"""Services: load -> apply the pure machine -> commit through the store, one command at a time."""
