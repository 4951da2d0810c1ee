"""An in-memory ``reconciler.core.ports.Registry`` on plain dicts, for pure property tests only.

It writes exactly what a change says (one change = one mutation) and can be told to
fail chosen changes, so apply's ordering and phase rules can be checked without a
server. Integration tests use a real mlflow server instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from reconciler.core.observed import (
    ObservedModel,
    ObservedRun,
    ObservedSignature,
    ObservedState,
    ObservedVersion,
)
from reconciler.core.plan import Action, Change, Kind
from reconciler.errors import RegistryError


@dataclass
class _Version:
    stage: str = "None"
    status: str = "READY"
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    template: str | None = None


@dataclass
class _Model:
    aliases: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    description: str = ""
    versions: dict[int, _Version] = field(default_factory=dict)
    prompt: bool = False


class MemoryRegistry:
    """Plain-dict registry; ``writes`` records every change in the order it was made."""

    display_uri = "memory://"
    concurrency = 1
    workspace: str | None = None

    def in_workspace(self, workspace: str | None) -> MemoryRegistry:
        """One workspace only: the plain dicts stand for the server's default."""
        assert workspace is None, "MemoryRegistry has no workspaces"
        return self

    def missing_workspaces(self, names: Iterable[str]) -> dict[str, str]:
        return dict.fromkeys(sorted(set(names)), "does not exist")

    def __init__(
        self,
        observed: ObservedState,
        fail: Callable[[Change], bool] = lambda change: False,
    ) -> None:
        self.models: dict[str, _Model] = {
            name: _Model(
                dict(m.aliases),
                dict(m.tags),
                m.description,
                {
                    n: _Version(
                        v.stage,
                        v.status,
                        v.run_id,
                        dict(v.tags),
                        v.description,
                        v.source,
                        v.template,
                    )
                    for n, v in m.versions.items()
                },
                m.prompt,
            )
            for name, m in observed.models.items()
        }
        self.metrics = {k: dict(v) for k, v in observed.metrics.items()}
        self.run_data = dict(observed.runs)
        self.signature_data = dict(observed.signatures)
        self.fail = fail
        self.writes: list[Change] = []
        self.audit: list[tuple[str, int, str, str]] = []
        self.records: list[tuple[str, str, str]] = []
        self.copies: list[tuple[str, str, int]] = []

    def read(self, names: Iterable[str], prompts: Iterable[str] = ()) -> ObservedState:
        """The current contents for models ``names`` and prompts ``prompts`` (each found
        only as its own kind, as a server does) as the frozen observed types."""
        out = {}
        asked = [(n, False) for n in names] + [(n, True) for n in prompts]
        for name, prompt in asked:
            m = self.models.get(name)
            if m is None or m.prompt != prompt:
                continue
            versions = {
                n: ObservedVersion(
                    n,
                    v.status,
                    v.stage,
                    v.run_id,
                    dict(v.tags),
                    v.description,
                    source=v.source,
                    template=v.template,
                )
                for n, v in m.versions.items()
            }
            out[name] = ObservedModel(
                name, dict(m.aliases), dict(m.tags), m.description, versions, m.prompt
            )
        return ObservedState(out, self.metrics)

    def model_names(self) -> list[str]:
        return sorted(n for n, m in self.models.items() if not m.prompt)

    def prompt_names(self) -> list[str]:
        return sorted(n for n, m in self.models.items() if m.prompt)

    def no_prompt_registry(self) -> str | None:
        return None

    def run_metrics(self, run_ids: Iterable[str]) -> Mapping[str, Mapping[str, float]]:
        return {r: self.metrics[r] for r in run_ids if r in self.metrics}

    def runs(self, run_ids: Iterable[str]) -> Mapping[str, ObservedRun]:
        """The runs given at construction (metrics from ``metrics`` when not given)."""
        return {
            r: self.run_data.get(r) or ObservedRun(r, metrics=self.metrics.get(r, {}))
            for r in run_ids
            if r in self.run_data or r in self.metrics
        }

    def signatures(self, sources: Iterable[str]) -> Mapping[str, ObservedSignature]:
        """The signatures given at construction; others read as "no MLmodel"."""
        missing = ObservedSignature(error="no MLmodel file at the version's source")
        return {s: self.signature_data.get(s, missing) for s in sources}

    def write(self, change: Change) -> None:
        """Apply one change, or raise RegistryError when ``fail`` selects it."""
        if self.fail(change):
            raise RegistryError(f"refused {change.kind.value} {change.key}")
        self.writes.append(change)
        m = self.models[change.model]
        removing = change.action is Action.REMOVE
        if change.kind is Kind.ALIAS:
            if removing:
                del m.aliases[change.key]
            else:
                m.aliases[change.key] = int(change.after)
        elif change.kind is Kind.TAG:
            if removing:
                m.tags.pop(change.key, None)
            else:
                m.tags[change.key] = str(change.after)
        elif change.kind is Kind.DESCRIPTION:
            m.description = change.after or ""
        else:
            v = m.versions[change.version or 0]
            if change.kind is Kind.STAGE:
                v.stage = str(change.after)
            elif change.kind is Kind.VERSION_TAG and removing:
                v.tags.pop(change.key, None)
            elif change.kind is Kind.VERSION_TAG:
                v.tags[change.key] = str(change.after)
            else:
                v.description = change.after or ""

    def copy_version(self, model: str, source_model: str, source_version: int) -> int:
        src = self.models[source_model].versions[source_version]
        target = self.models.setdefault(model, _Model())
        number = max(target.versions, default=0) + 1
        target.versions[number] = _Version(
            run_id=src.run_id, source=f"models:/{source_model}/{source_version}"
        )
        self.copies.append((model, source_model, source_version))
        return number

    def set_model_tag(self, model: str, key: str, value: str) -> None:
        self.records.append((model, key, value))
        self.models[model].tags[key] = value

    def set_version_tag(self, model: str, version: int, key: str, value: str) -> None:
        self.audit.append((model, version, key, value))
        self.models[model].versions[version].tags[key] = value
