"""`python -m services.projections`: the same as `batchq run projector`."""

from services.projections.bootstrap import main

if __name__ == "__main__":
    raise SystemExit(main())
