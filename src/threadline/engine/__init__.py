"""Use cases: create, retrieve and delete responses; conversations; the turn itself.

Knows nothing of HTTP or SQL: it works through the ports in `storage.base` and
`providers.base`, and raises the errors of `threadline.errors`.
"""
