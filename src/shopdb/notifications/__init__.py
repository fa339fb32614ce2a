"""Notifications: emails (and SMS) to customers, rendered from templates and sent by the worker.

Nothing here sends from a request: the change that warrants a message queues a job in its own
transaction (shopdb.jobs), and the worker renders and sends it (jobs.py), with the queue's
retries. See README.md, "Notifications".
"""
