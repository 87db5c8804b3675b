"""The read model: PostgreSQL tables fed from the event log, for lists, the API, metrics and alerts."""
