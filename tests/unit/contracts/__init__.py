"""Unit tests of the wire contract: no servers, fast."""
