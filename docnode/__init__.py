"""docnode: the exchange node daemon and its tools (async; composes envelopes + keystore)."""

__version__ = "0.1.0"
