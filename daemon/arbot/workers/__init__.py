"""Feed worker processes (`feeds.workers` > 1): the exchanges' feeds spread over processes
that send their ticks to the daemon, which keeps the engine, the sink and the writer."""
