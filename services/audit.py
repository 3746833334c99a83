"""The audit as the surfaces read it: built by `engine.integrity`, kept until grading moves on."""

from __future__ import annotations

from config.settings import Settings
from engine.integrity import build_audit
from engine.reports import AuditReport
from storage import Repositories


class AuditCache:
    """The last audit and the grading version it was built at: a report is rebuilt only when a grade, an
    ungraded verdict or a result has been written since (`GradeRepository.version`)."""

    def __init__(self) -> None:
        self._version: tuple[object, ...] | None = None
        self._report: AuditReport | None = None

    async def get(self, repos: Repositories, settings: Settings) -> AuditReport:
        version = await repos.grades.version()
        if self._report is None or version != self._version:
            self._report = await build_audit(repos, settings)
            self._version = version
        return self._report
