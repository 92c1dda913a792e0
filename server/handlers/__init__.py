"""The request handlers, one module per feature, each registering its verbs in the
`HandlerTable` (server/handlers/table.py) that `server.requests` dispatches through.

`session` (hello), `rooms` (version 1's room verbs); later features add a module of their own
and a line in `server/app.py`, so that verbs are added without editing shared lines.
"""
