"""The reviewer console: accounts, sessions, the review queue, decisions, the dashboard.

Its JSON API lives under ``/api/admin/`` (every route declares the role it needs, see
:mod:`signaling.console.guard`); its pages are the static app in ``client/review/``.
Its settings model lives in :mod:`signaling.config.console` with the others.
"""
