"""``/metrics``: Prometheus text from ``prometheus_client`` (SPEC §13).

Per-model gauges are computed from the current snapshot at scrape time (a model that
leaves the state leaves the metrics with it); counters and the resync histogram are
kept by the controller's shell. Each controller has its own ``CollectorRegistry``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reconciler.serve.decide import Sync
from reconciler.serve.status import Snapshot


class _SnapshotCollector(Collector):
    def __init__(self, snapshots: Callable[[], Sequence[Snapshot]]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snaps = self._snapshots()
        status = GaugeMetricFamily(
            "reconciler_model_sync_status",
            "1 for the model's current condition (synced, drift, pending, unknown, unverified)",
            labels=["model", "state", "workspace"],
        )
        drift = GaugeMetricFamily(
            "reconciler_model_drift",
            "1 while the model differs from its last applied state",
            labels=["model", "workspace"],
        )
        for snap in snaps:
            ws = snap.workspace or ""
            for model in snap.models:
                for state in Sync:
                    on = 1.0 if model.state is state else 0.0
                    status.add_metric([model.name, state.value, ws], on)
                drift.add_metric([model.name, ws], 1.0 if model.state is Sync.DRIFT else 0.0)
        yield status
        yield drift
        yield GaugeMetricFamily(
            "reconciler_up",
            "1 while the last resync of every workspace read git and the registry completely",
            value=1.0 if snaps and all(s.healthy for s in snaps) else 0.0,
        )
        last = GaugeMetricFamily(
            "reconciler_last_resync_success_timestamp_seconds",
            "Unix time of the last complete resync (the oldest across workspaces)",
        )
        done = [s.last_success for s in snaps]
        if done and None not in done:
            last.add_metric([], min(d for d in done if d is not None))
        yield last


class Metrics:
    """The controller's metrics."""

    def __init__(self, snapshots: Callable[[], Sequence[Snapshot]]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_SnapshotCollector(snapshots))
        self.heals = Counter(
            "reconciler_heals",
            "Heal attempts by result",
            ["model", "result"],
            registry=self.registry,
        )
        self.deliveries = Counter(
            "reconciler_webhook_deliveries",
            "Webhook deliveries by result",
            ["result"],
            registry=self.registry,
        )
        self.resyncs = Counter(
            "reconciler_resyncs",
            "Reconcile rounds by kind and result",
            ["kind", "result"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "reconciler_resync_duration_seconds",
            "Time one full resync takes",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.round_errors = Counter(
            "reconciler_round_exceptions",
            "Rounds ended by an unexpected exception (logged; the loop goes on)",
            registry=self.registry,
        )
        self.notifications = Counter(
            "reconciler_notifications",
            "Notifications by result",
            ["result"],
            registry=self.registry,
        )

    def text(self) -> bytes:
        return generate_latest(self.registry)
