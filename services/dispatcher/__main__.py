"""`python -m services.dispatcher`: the same as `batchq run dispatcher`."""

from services.dispatcher.bootstrap import main

if __name__ == "__main__":
    raise SystemExit(main())
