"""Loopback servers that speak the platforms' APIs, for the demo, `planb run` and the tests."""
