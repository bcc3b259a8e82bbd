"""Turning pydantic's validation errors into one line a person can act on."""

from pydantic import ValidationError


def summarise(exc: ValidationError, limit: int = 5) -> str:
    """`field.path: message; …` for the first `limit` errors."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
        for err in exc.errors()[:limit]
    ]
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
