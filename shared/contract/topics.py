"""Topic names of docs/design.md, with a prefix so tests and tenants don't collide."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = "planb"

    @property
    def incidents(self) -> str:
        return f"{self.prefix}.incidents"

    @property
    def outbound(self) -> str:
        return f"{self.prefix}.outbound"

    @property
    def deliveries(self) -> str:
        return f"{self.prefix}.deliveries"

    @property
    def audit(self) -> str:
        return f"{self.prefix}.audit"

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"

    def all(self) -> list[str]:
        """Every topic the system uses, dead-letter topics included."""
        main = [self.incidents, self.outbound, self.deliveries, self.audit]
        return main + [self.dlq(t) for t in main]
