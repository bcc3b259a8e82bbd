"""Ingest's own tables: what it knows of incidents (to refuse updates to unknown or closed
ones), idempotency keys, and Alertmanager groups. The outbox is shared
(`shared.runtime.database`)."""

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.runtime.database import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class IncidentRecord(Base):
    __tablename__ = "incident_registry"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    open: Mapped[bool]
    status: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(20))
    alert_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertGroup(Base):
    """The open incident of an Alertmanager group (by a digest of its group key)."""

    __tablename__ = "alert_groups"
    group_key_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(64))


class IdempotencyRecord(Base):
    """The first answer to a request carrying an `Idempotency-Key`, per caller."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    principal: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    request_digest: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
