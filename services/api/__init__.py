"""`batchq run api`: the HTTP API, `/health`, `/metrics`, alerts and the dashboard."""
