"""`planb demo`: the command, its timing and the narrated story."""
