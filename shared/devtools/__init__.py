"""developer tooling: the loopback platform sandbox of `planb demo`, `planb run` and the tests."""
