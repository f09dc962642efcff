"""JobSet mode: the experiment's one JobSet, and each role's pods inside it."""

from __future__ import annotations

from constructs import Construct

from ..core.jobset import API_VERSION, JobSetModel
from ..core.statefulset import GpuStatefulSetModel
from .pods import GpuPods
from .rendered import ChartContext, RenderedApiObject


class JobSetRole(GpuPods):
    """One role of a JobSet experiment: a replicated job's pods, its Service and disruption budget.

    The pods belong to the experiment's JobSet (rendered from the same model, so ``add_env`` and
    the other additions change that JobSet); pod ``i`` is ``<experiment>-<role>-0-<i>``, reachable
    at ``pod_fqdn(i)`` through the JobSet's subdomain. Children: ``service`` and
    ``disruption-budget`` when enabled.
    """

    def __init__(
        self, scope: Construct, id: str, *, model: GpuStatefulSetModel, context: ChartContext
    ) -> None:
        super().__init__(scope, id)
        self.model = model
        self._context = context
        self._add_service_and_budget()


def jobset_object(scope: Construct, id: str, model: JobSetModel, context: ChartContext) -> RenderedApiObject:
    """The ``jobset.x-k8s.io/v1alpha2`` JobSet, rendered when the app synthesizes."""
    return RenderedApiObject(
        scope, id, model.manifest, api_version=API_VERSION, kind="JobSet", name=model.name, context=context
    )
