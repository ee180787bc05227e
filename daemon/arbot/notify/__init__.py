"""Notifications ([[notify]] targets) through Apprise: opportunities and the daemon's own
trouble told to a person (Telegram, ntfy, e-mail, ...) or a webhook.

targets.py  the URLs from a file or an environment variable; masks and scrubbing
messages.py what each event says (text, and JSON with the fields of `query signals`)
route.py    a target's filters, one opportunity per episode, feed outages that last
outlet.py   a target's queue, rate limit (folding the overflow), retries with backoff
service.py  the daemon's notifier task, fed by the sink's put and by polling
adapter.py  the only module importing apprise
"""
