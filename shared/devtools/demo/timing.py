"""How fast the demo's story goes, shared by the command and the story."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """How fast the story goes: `--fast` for tests, the default for people watching."""

    promo_every: float
    promos_per_channel: int
    wait: float  # the longest any step of the story may take
    beat: float  # the pause between chapters

    @classmethod
    def pick(cls, fast: bool) -> "Timing":
        return cls(2.0, 60, 30.0, 1.0) if fast else cls(20.0, 90, 600.0, 15.0)
