"""`python -m services.api`: the same as `batchq run api`."""

from services.api.bootstrap import main

if __name__ == "__main__":
    raise SystemExit(main())
