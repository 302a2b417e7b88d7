"""The reviewer console: accounts, sessions, the review queue, decisions, the dashboard.

Its JSON API lives under ``/api/admin/`` (every route declares the role it needs, see
:mod:`signaling.admin.guard`); its pages are the static app in ``client/review/``. This
package imports nothing heavy at import time: :mod:`signaling.settings` imports
:mod:`signaling.admin.settings` from it.
"""
