"""The outbox relay: committed events, in position order, onto `batchq.events`.

`relay.py` is the loop (and its in-process form for the embedded mode);
`bootstrap.py` the process the dispatcher runs it in.
"""
