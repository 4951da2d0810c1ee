"""The desired-state format (SPEC §2) as frozen pydantic models.

Every rule that can be checked without the registry lives here, so ``validate``
catches it before any network call. ``extra="forbid"`` turns typos into errors.
The JSON Schema printed by ``reconciler schema`` is generated from these classes.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictStr,
    Tag,
    WrapValidator,
    model_validator,
)

from reconciler.state.gaterules import GateRule as GateRule
from reconciler.state.gaterules import MetricRule as MetricRule
from reconciler.state.gaterules import SignatureRule as SignatureRule
from reconciler.state.gaterules import SoakRule as SoakRule
from reconciler.state.gaterules import TagRule as TagRule
from reconciler.state.gaterules import untagged
from reconciler.state.ignore import IgnoreSpec as IgnoreSpec
from reconciler.state.ignore import Pattern as Pattern
from reconciler.state.names import STAGES as STAGES
from reconciler.state.names import (
    AliasName,
    ModelName,
    RegistryName,
    Tags,
    VersionKey,
    VersionNumber,
    WorkspaceName,
)
from reconciler.state.names import _check_alias as _check_alias
from reconciler.state.names import check_registry as check_registry
from reconciler.state.names import check_workspace as check_workspace
from reconciler.state.prompts import PromptSpec
from reconciler.state.windows import Window


class _Frozen(BaseModel):
    """Unknown keys are errors (typos), and parsed state never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CopyFrom(_Frozen):
    """An alias value that names a version of another registered model (SPEC v2 §2).

    It means: the version of this model whose ``source`` is ``models:/MODEL/N``, as
    ``copy_model_version`` writes it; apply makes that copy once if it is missing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: ModelName = Field(alias="from")
    """The source registered model (e.g. the staging one)."""
    version: VersionNumber
    """The source version number."""
    registry: RegistryName | None = None
    """Another server's registry (SPEC v4 §19): the copy carries the files across."""

    @property
    def source(self) -> str:
        """The ``source`` a same-server copy carries; for a cross-server copy, the key
        that names it in a plan (``staging:models:/churn/7``)."""
        prefix = f"{self.registry}:" if self.registry else ""
        return f"{prefix}models:/{self.from_}/{self.version}"

    @property
    def model_key(self) -> str:
        """The source model as observed: ``churn``, or ``staging:churn`` on another server."""
        return f"{self.registry}:{self.from_}" if self.registry else self.from_

    def label(self) -> str:
        return f"{self.model_key} v{self.version}"


def _alias_value_kind(value: object) -> str:
    return "copy" if isinstance(value, (dict, CopyFrom)) else "version"


AliasValue = Annotated[
    Annotated[VersionNumber, Tag("version")] | Annotated[CopyFrom, Tag("copy")],
    Discriminator(_alias_value_kind),
]
"""A version number of this model, or ``{from: MODEL, version: N}``: a copy of another's.

The discriminator picks one shape from the YAML type, so an error names only that
shape's problem (not "not an integer" for every copy mapping)."""


def value_label(value: AliasValue | None) -> str:
    """An alias value for messages: ``7`` or ``the copy of churn-staging v7``."""
    if isinstance(value, CopyFrom):
        return f"the copy of {value.label()}"
    return "-" if value is None else str(value)


class VersionSpec(_Frozen):
    """Metadata managed on one model version; only listed tag keys are managed."""

    tags: Tags = {}
    description: StrictStr | None = None


INTERNAL = frozenset({"removed"})
"""Fields filled by validation, never written by users (not in the schema or hints)."""
PROTECTED = ("champion",)
"""Aliases whose removal is a plan error unless declared ``ALIAS: null`` (no ``protect``)."""
Protect = Annotated[list[AliasName] | None, Field(exclude=True)]
"""Excluded from the digest: it decides what a plan refuses, never what apply writes."""


class Defaults(_Frozen):
    """What applies to every model of one state file."""

    ignore: IgnoreSpec = IgnoreSpec()
    """Merged with each model's own ``ignore``."""
    windows: list[Window] = []
    """Promotion windows for every model (a model's own are added to these)."""
    protect: Protect = None
    """Aliases a plan may not remove (unless ``ALIAS: null``); a model's own list wins."""


class ModelSpec(_Frozen):
    """Everything the state declares for one registered model."""

    aliases: dict[AliasName, AliasValue] = {}
    """alias -> version number (or a copy of another model's version); these are managed."""
    prune: StrictBool = False
    """When true, aliases on the model that are not listed are removed."""
    description: StrictStr | None = None
    """Managed only when present."""
    tags: Tags = {}
    """Only the listed keys are managed."""
    versions: dict[VersionKey, VersionSpec] = {}
    stages: dict[Literal["Staging", "Production"], VersionNumber] = {}
    """Legacy stages (deprecated in MLflow): stage -> version."""
    gates: Annotated[
        dict[AliasName, Annotated[list[GateRule], Field(min_length=1)]], WrapValidator(untagged)
    ] = {}
    """alias -> conditions checked when that alias would move."""
    self_heal: StrictBool = False
    """``reconciler serve`` restores this model's last applied state when it drifts."""
    ignore: IgnoreSpec = IgnoreSpec()
    """Keys left to others (fnmatch patterns); merged with the file's ``defaults``."""
    windows: list[Window] = []
    """When changes may be applied (deny / allow, SPEC v4 §18); after the file's own."""
    protect: Protect = None
    """Aliases a plan may not remove unless declared ``ALIAS: null`` (None: the file's
    ``defaults``, else ``[champion]``)."""
    removed: Annotated[tuple[AliasName, ...], Field(exclude=True)] = ()
    """Aliases declared ``null``: removed on purpose (filled from ``aliases``, never
    written as a key)."""

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_removals(cls, data: Any) -> Any:
        """``champion: null`` is no alias to set but a removal on purpose."""
        if not isinstance(data, dict):
            return data
        if "removed" in data:
            raise ValueError("unknown key 'removed': write ALIAS: null under 'aliases'")
        aliases = data.get("aliases")
        if not isinstance(aliases, dict) or None not in aliases.values():
            return data
        kept = {k: v for k, v in aliases.items() if v is not None}
        gone = tuple(k for k, v in aliases.items() if v is None)
        return {**data, "aliases": kept, "removed": gone}

    def protected(self) -> tuple[str, ...]:
        """The aliases this model protects (its own list, the file's, or ``[champion]``)."""
        return PROTECTED if self.protect is None else tuple(self.protect)

    @model_validator(mode="after")
    def _gates_guard_declared_aliases(self) -> ModelSpec:
        for alias in self.gates:
            if alias not in self.aliases:
                raise ValueError(f"gates name alias {alias!r}, which 'aliases' does not declare")
        if len(set(self.stages.values())) < len(self.stages):
            raise ValueError("one version cannot be in both Staging and Production")
        return self


class StateFile(_Frozen):
    """One YAML file of the desired state."""

    version: Literal[1] = 1
    """Format version."""
    workspace: WorkspaceName | None = None
    """The MLflow workspace of every model in this file (MLflow >= 3.10); absent:
    ``--workspace`` / ``MLFLOW_WORKSPACE``, else the server's default."""
    registry: RegistryName | None = None
    """The server of every model in this file (SPEC v4 §19); its URI and credentials come
    from RECONCILER_REGISTRY_<NAME>_URI / _USERNAME / _PASSWORD / _TOKEN only."""
    defaults: Defaults = Defaults()
    """For every model in this file (``ignore``)."""
    models: dict[ModelName, ModelSpec] = {}
    prompts: dict[ModelName, PromptSpec] = {}
    """MLflow 3 prompts (SPEC v4 §20): a name is either a model or a prompt."""

    @model_validator(mode="after")
    def _no_copy_from_itself(self) -> StateFile:
        for name, spec in self.models.items():
            for alias, value in spec.aliases.items():
                if isinstance(value, CopyFrom) and value.from_ == name and not value.registry:
                    raise ValueError(
                        f"models.{name}.aliases.{alias}: a copy from the model itself; "
                        f"write the version number ({value.version}) instead"
                    )
        return self


def ignore_conflicts(spec: ModelSpec) -> list[tuple[tuple[object, ...], str]]:
    """Keys the model both declares and ignores: (path inside the model, message)."""
    found: list[tuple[tuple[object, ...], str]] = []

    def conflict(path: tuple[object, ...], what: str, pattern: str | None) -> None:
        if pattern is not None:
            found.append(
                (
                    path,
                    f"{what} is declared but also ignored (pattern {pattern!r}): "
                    "a key is either managed by the state or ignored, not both",
                )
            )

    for alias in spec.aliases:
        conflict(("aliases", alias), f"alias {alias!r}", spec.ignore.alias(alias))
    for key in spec.tags:
        conflict(("tags", key), f"tag {key!r}", spec.ignore.tag(key))
    for number, version in spec.versions.items():
        for key in version.tags:
            where = ("versions", number, "tags", key)
            conflict(where, f"version {number} tag {key!r}", spec.ignore.version_tag(key))
    return found


def from_prompt(prompt: PromptSpec) -> ModelSpec:
    """A prompt's declaration as the model spec the plan/apply path reads (SPEC v4 §20)."""
    return ModelSpec(
        aliases=dict(prompt.aliases),
        prune=prompt.prune,
        tags=dict(prompt.tags),
        gates={alias: list(rules) for alias, rules in prompt.gates.items()},
        self_heal=prompt.self_heal,
        ignore=prompt.ignore,
        windows=list(prompt.windows),
        protect=None if prompt.protect is None else list(prompt.protect),
    )


def to_prompt(spec: ModelSpec) -> PromptSpec:
    """The prompt declaration a model spec of a prompt stands for (``import``)."""
    return PromptSpec(
        aliases={a: v for a, v in spec.aliases.items() if isinstance(v, int)},
        prune=spec.prune,
        tags=dict(spec.tags),
        self_heal=spec.self_heal,
        ignore=spec.ignore,
    )


def state_schema() -> dict[str, object]:
    """The JSON Schema of a state file, for editors (``reconciler schema``, the demo)."""
    schema = StateFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "registry-reconciler state file"
    model: Any = schema.get("$defs", {}).get("ModelSpec", {})
    for name in INTERNAL:
        model.get("properties", {}).pop(name, None)
    aliases = model.get("properties", {}).get("aliases", {})
    if "additionalProperties" in aliases:  # ALIAS: null removes it on purpose
        aliases["additionalProperties"] = {
            "anyOf": [aliases["additionalProperties"], {"type": "null"}]
        }
    return schema
