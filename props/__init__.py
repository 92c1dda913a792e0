"""Props for rooms and calls, pure: games (dice, cards). No I/O, no event loop."""
