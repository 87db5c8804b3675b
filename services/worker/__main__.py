"""`python -m services.worker`: the same as `batchq run worker`."""

from services.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main(["run", "worker"]))
