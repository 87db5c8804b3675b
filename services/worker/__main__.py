"""`python -m services.worker`: the same as `batchq run worker`."""

from services.worker.bootstrap import main

if __name__ == "__main__":
    raise SystemExit(main())
