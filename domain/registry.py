"""Every aggregate module of the model, in one place.

Importing a module registers its pinned event topics (`domain.base.pinned`),
which the store needs to read any stored event back: a process that reads
history (the CLI, the relay) may never have imported the aggregate otherwise.
"""

from domain import access, batch, canary, checkpoint, depositor, item, job, queue, quotas

AGGREGATE_MODULES = (access, batch, canary, checkpoint, depositor, item, job, queue, quotas)
