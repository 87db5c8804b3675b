"""Shared I/O for every batchq service: settings, logging, event store, bus, relay, locks, mail."""
