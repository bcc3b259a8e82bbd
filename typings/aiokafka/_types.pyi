# Stub-only aliases for the string options aiokafka checks at runtime (ValueError otherwise).
from typing import Literal, TypeAlias

SecurityProtocol: TypeAlias = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism: TypeAlias = Literal[
    "PLAIN", "GSSAPI", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"
]
Acks: TypeAlias = Literal[0, 1, -1, "all"]
OffsetReset: TypeAlias = Literal["earliest", "latest", "none"]
IsolationLevel: TypeAlias = Literal["read_uncommitted", "read_committed"]
