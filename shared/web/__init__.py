"""The HTTP edge every service shares: app factory, auth, guards, RFC 9457 problems and the
ops endpoints (health, readiness, metrics). Builds on `shared.runtime` and below."""
