"""``LocalControlPlane``: the ControlPlane protocol over the embedded SQLite store.

Composed of one mixin per area so each stays small; all share ``LocalBase`` (store, identity,
allowlists, audit append).
"""

from __future__ import annotations

from oc_cli.local.auditlog import AuditMixin
from oc_cli.local.gateway import GatewayMixin
from oc_cli.local.judging import JudgeMixin
from oc_cli.local.registry import RegistryMixin
from oc_cli.local.usage import UsageMixin


class LocalControlPlane(GatewayMixin, JudgeMixin, RegistryMixin, UsageMixin, AuditMixin):
    """Local mode: the default, no server needed. (``JudgeMixin`` extends ``MeasurementMixin``.)"""
