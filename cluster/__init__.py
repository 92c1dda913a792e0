"""Several nodes on one Redis: the node registry, media ownership leases, offer forwarding."""
