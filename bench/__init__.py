"""`make bench`: Plan B's latency and throughput figures, each beside the broker's own floor."""
