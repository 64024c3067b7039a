"""The web console at `/console`: server-rendered pages (Jinja2, htmx, Chart.js) for operators
(an admin key) and customers (an account's key), translated onto the same `Admin` service as the
admin API and the CLI. See `routes` for the pages, `session` for cookies and CSRF, and
docs/console.md for how to use it.

What it is not: a second code path. No page reads the store or decides a rule itself.
"""
