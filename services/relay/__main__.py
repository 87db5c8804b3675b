"""`python -m services.relay`: the relay process (the dispatcher starts it)."""

from services.relay.bootstrap import main

if __name__ == "__main__":
    raise SystemExit(main())
