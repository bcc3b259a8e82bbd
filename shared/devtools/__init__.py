"""Developer tooling: the `planb` CLI, the process supervisor, the embedded broker, the demo
and its sandbox peers, and the documentation generators. Shipped with the package, never
imported by a service."""
