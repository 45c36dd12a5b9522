"""Everything that is not a screen: engine, transports, store, config."""
