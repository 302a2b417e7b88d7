"""The reviewer console's routes: the page at ``/review``, login, and the guarded API.

Every ``/api/admin/`` route is an :class:`~signaling.console.guard.AdminRoute` that declares
the least role it needs; ``tests/integration/test_console_access.py`` sweeps this table.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from signaling.console.api import auth, people, queue, records
from signaling.console.guard import AdminRoute
from signaling.storage.accounts import Role

GET, POST = ["GET"], ["POST"]
ITEM = "/api/admin/items/{kind}/{item}"


def routes() -> list[BaseRoute]:
    mod: Role = "moderator"
    adm: Role = "admin"
    return [
        Route("/api/auth/login", auth.login, methods=POST),
        Route("/api/auth/session", auth.session, methods=GET),
        AdminRoute("/api/admin/logout", auth.logout, role=mod, methods=POST),
        # The queue.
        AdminRoute("/api/admin/queue", queue.queue, role=mod, methods=GET),
        AdminRoute("/api/admin/queue/next", queue.next_item, role=mod, methods=POST),
        AdminRoute(ITEM + "/open", queue.open_item, role=mod, methods=POST),
        AdminRoute(ITEM + "/release", queue.release_item, role=mod, methods=POST),
        AdminRoute(ITEM + "/decision", queue.decide_item, role=mod, methods=POST),
        AdminRoute(
            "/api/admin/evidence/{evidence}/{variant}",
            records.evidence_image,
            role=mod,
            methods=GET,
        ),
        # Records.
        AdminRoute("/api/admin/bans", records.bans, role=mod, methods=GET),
        AdminRoute("/api/admin/bans", records.create_ban, role=mod, methods=POST),
        AdminRoute("/api/admin/bans/{ban}/lift", records.lift_ban, role=mod, methods=POST),
        AdminRoute("/api/admin/reports", records.reports, role=mod, methods=GET),
        AdminRoute("/api/admin/appeals", records.appeals, role=mod, methods=GET),
        AdminRoute("/api/admin/decisions", records.recent_decisions, role=mod, methods=GET),
        AdminRoute("/api/admin/dashboard", people.dashboard, role=mod, methods=GET),
        # Admins only.
        AdminRoute("/api/admin/audit", records.audit_log, role=adm, methods=GET),
        AdminRoute("/api/admin/live", people.live_view, role=adm, methods=GET),
        AdminRoute(
            "/api/admin/live/{visitor}/disconnect", people.disconnect, role=adm, methods=POST
        ),
        AdminRoute("/api/admin/accounts", people.accounts, role=adm, methods=GET),
        AdminRoute("/api/admin/accounts", people.create_account, role=adm, methods=POST),
        AdminRoute(
            "/api/admin/accounts/{account}/disabled", people.set_disabled, role=adm, methods=POST
        ),
    ]
