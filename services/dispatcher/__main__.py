"""`python -m services.dispatcher`: the same as `batchq run dispatcher`."""

from services.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main(["run", "dispatcher"]))
