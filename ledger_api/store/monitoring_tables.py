"""Monitoring and push (migration 0022): subscriptions, the risk-event outbox, each
subscription's numbered events, and the PUBLIC region/industry of each subject.

Kinds, regions and industry sections are stored as codes (``MonitoringRules``), so no column
holds text of a record, as in every data-plane table.

The outbox is written in the ingest transaction that stores the records it is about; the
fan-out turns each outbox event into numbered events of the subscriptions it matches. No
column holds record data: an event names its subject, category, kind and record id only.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, SmallInteger, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.store.base import Base
from ledger_api.store.types import BigId, Bytes, UTCDateTime, utcnow


class Subscription(Base):
    """An institution's subscription: risk alerts (under monitoring grants) or public push
    (by region and industry, under its agreement); a webhook target or none (pull only)."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    institution: Mapped[str] = mapped_column(String(42), index=True)  # checksum address
    kind: Mapped[str] = mapped_column(String(16))  # risk_alerts | public_push
    status: Mapped[str] = mapped_column(String(16))  # active | paused | disabled | deleted
    categories: Mapped[int] = mapped_column(BigInteger)  # bitmask; 0: every category
    regions: Mapped[str] = mapped_column(Text)  # JSON list of region codes (public_push)
    industries: Mapped[str] = mapped_column(Text)  # JSON list of GB/T 4754 sections
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    secret: Mapped[str | None] = mapped_column(String(80))  # whsec_..., per endpoint
    previous_secret: Mapped[str | None] = mapped_column(String(80))  # during a rotation
    previous_until: Mapped[int | None] = mapped_column(BigInteger)  # UTC seconds
    last_number: Mapped[int] = mapped_column(BigInteger)  # the newest event's number
    delivered_number: Mapped[int] = mapped_column(BigInteger)  # webhook: done up to here
    acked_number: Mapped[int] = mapped_column(BigInteger)  # pull: acknowledged up to here
    failures: Mapped[int] = mapped_column(Integer)  # consecutive failed attempts
    next_attempt_at: Mapped[float] = mapped_column(Float)  # UTC seconds
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiskOutbox(Base):
    """A risk event derived at ingest, written in the records' own transaction."""

    __tablename__ = "risk_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[bytes] = mapped_column(Bytes)
    category: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[int] = mapped_column(SmallInteger)  # codes: ledger_api.monitoring.rules
    record_uid: Mapped[bytes | None] = mapped_column(Bytes)
    public: Mapped[bool] = mapped_column(Boolean)  # every field the rule reads is PUBLIC
    region: Mapped[int | None] = mapped_column(SmallInteger)
    industry: Mapped[int | None] = mapped_column(SmallInteger)
    occurred_at: Mapped[int] = mapped_column(BigInteger)  # UTC seconds


class OutboxCursor(Base):
    """How far the fan-out has read the outbox (one row)."""

    __tablename__ = "risk_outbox_cursor"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(BigInteger)


class SubscriptionEvent(Base):
    """Event ``number`` of a subscription: what a delivery or a catch-up sends."""

    __tablename__ = "subscription_events"

    subscription_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    outbox_id: Mapped[int] = mapped_column(BigInteger)
    subject_id: Mapped[bytes] = mapped_column(Bytes)
    category: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[int] = mapped_column(SmallInteger)
    record_uid: Mapped[bytes | None] = mapped_column(Bytes)
    grant_id: Mapped[int | None] = mapped_column(BigInteger)  # risk alerts: the grant it rests on
    occurred_at: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Float)  # UTC seconds (fan-out time)
    outcome: Mapped[str | None] = mapped_column(String(32))  # delivered | refused:<code>
    attempts: Mapped[int] = mapped_column(Integer)
    delivered_at: Mapped[float | None] = mapped_column(Float)


class SubjectProfile(Base):
    """A subject's PUBLIC region and industry, from its registration record."""

    __tablename__ = "subject_profiles"

    subject_id: Mapped[bytes] = mapped_column(Bytes, primary_key=True)
    region: Mapped[int | None] = mapped_column(SmallInteger)
    industry: Mapped[int | None] = mapped_column(SmallInteger)


Index("ix_subscriptions_status_next", Subscription.status, Subscription.next_attempt_at)

SUBSCRIPTIONS = cast(Table, Subscription.__table__)
OUTBOX = cast(Table, RiskOutbox.__table__)
OUTBOX_CURSOR = cast(Table, OutboxCursor.__table__)
SUBSCRIPTION_EVENTS = cast(Table, SubscriptionEvent.__table__)
SUBJECT_PROFILES = cast(Table, SubjectProfile.__table__)
