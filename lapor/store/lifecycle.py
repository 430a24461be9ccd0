"""The report lifecycle in one place: statuses, their labels, families and legal moves.

`submitted` (Menunggu verifikasi) -> `verified` -> `forwarded` -> `in_progress` -> `resolved`,
with `rejected` and `duplicate` as side exits from review. Code moves a report only through
`transition()`, so an illegal move cannot be written down, only attempted and refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReportKind(StrEnum):
    LAPORAN = "laporan"
    SARAN = "saran"
    APRESIASI = "apresiasi"


class Family(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    FIXED = "fixed"


class ReportStatus(StrEnum):
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    FORWARDED = "forwarded"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class StatusInfo:
    label_id: str
    label_en: str
    family: Family

    def label(self, language: str) -> str:
        return self.label_en if language == "en" else self.label_id


STATUSES: dict[ReportStatus, StatusInfo] = {
    ReportStatus.SUBMITTED: StatusInfo("Menunggu verifikasi", "Awaiting verification", Family.OPEN),
    ReportStatus.VERIFIED: StatusInfo("Terverifikasi", "Verified", Family.OPEN),
    ReportStatus.FORWARDED: StatusInfo(
        "Diteruskan ke kelurahan", "Sent to the kelurahan", Family.OPEN
    ),
    ReportStatus.IN_PROGRESS: StatusInfo("Diproses", "In progress", Family.OPEN),
    ReportStatus.RESOLVED: StatusInfo("Selesai", "Resolved", Family.FIXED),
    ReportStatus.REJECTED: StatusInfo("Ditolak", "Rejected", Family.CLOSED),
    ReportStatus.DUPLICATE: StatusInfo("Duplikat", "Duplicate", Family.CLOSED),
    # Saran and apresiasi are read and acknowledged by a verifier, never forwarded.
    ReportStatus.ACKNOWLEDGED: StatusInfo("Diterima", "Acknowledged", Family.CLOSED),
}

OPEN_STATUSES = frozenset(s for s, info in STATUSES.items() if info.family is Family.OPEN)

# The only moves a report may make. The initial `submitted` is the creation event (from None).
TRANSITIONS: dict[ReportStatus | None, frozenset[ReportStatus]] = {
    None: frozenset({ReportStatus.SUBMITTED}),
    ReportStatus.SUBMITTED: frozenset(
        {
            ReportStatus.VERIFIED,
            ReportStatus.REJECTED,
            ReportStatus.DUPLICATE,
            ReportStatus.ACKNOWLEDGED,
        }
    ),
    ReportStatus.VERIFIED: frozenset({ReportStatus.FORWARDED}),
    # "Bukan wilayah kami": the kelurahan sends it back to the verifiers for re-routing.
    ReportStatus.FORWARDED: frozenset(
        {ReportStatus.IN_PROGRESS, ReportStatus.RESOLVED, ReportStatus.VERIFIED}
    ),
    ReportStatus.IN_PROGRESS: frozenset({ReportStatus.RESOLVED, ReportStatus.VERIFIED}),
    # A citizen's rating of 1 or 2 reopens the work (as Qlue did).
    ReportStatus.RESOLVED: frozenset({ReportStatus.IN_PROGRESS}),
    ReportStatus.REJECTED: frozenset(),
    ReportStatus.DUPLICATE: frozenset(),
    ReportStatus.ACKNOWLEDGED: frozenset(),
}


def _reachable(start: ReportStatus) -> frozenset[ReportStatus]:
    seen = {start}
    todo = [start]
    while todo:
        for target in TRANSITIONS[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return frozenset(seen)


# Statuses only a report a verifier accepted can be in: its category is a verifier's word.
PASSED_VERIFICATION = _reachable(ReportStatus.VERIFIED)


class IllegalTransition(ValueError):
    def __init__(self, current: ReportStatus | None, target: ReportStatus) -> None:
        super().__init__(f"a report cannot move from {current} to {target}")
        self.current = current
        self.target = target


def check_transition(current: ReportStatus | str | None, target: ReportStatus) -> None:
    """Raise `IllegalTransition` unless `current -> target` is one of the lifecycle's moves."""
    key = ReportStatus(current) if current is not None else None
    if target not in TRANSITIONS[key]:
        raise IllegalTransition(key, target)


def status_label(status: ReportStatus | str, language: str) -> str:
    return STATUSES[ReportStatus(status)].label(language)
