"""`python -m services.reporter`: the same as `batchq run reporter`."""

from services.reporter.bootstrap import main

if __name__ == "__main__":
    raise SystemExit(main())
