"""One module per platform, each a `Channel` (`channels/protocol.py`); `atproto` helps Bluesky."""
