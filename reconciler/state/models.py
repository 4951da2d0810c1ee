"""The desired-state format (SPEC §2) as frozen pydantic models.

Every rule that can be checked without the registry lives here, so ``validate``
catches it before any network call. ``extra="forbid"`` turns typos into errors.
The JSON Schema printed by ``reconciler schema`` is generated from these classes.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

MAX_VERSION = 2**63 - 1
_ALIAS_RE = re.compile(r"^[\w\-]+$")
_RESERVED_ALIAS_RE = re.compile(r"^(latest|[vV]\d+)$", re.IGNORECASE)
STAGES = ("Staging", "Production")
"""Stages a state file may declare; other versions in them are moved to Archived."""


def _check_alias(name: str) -> str:
    if len(name) > 255:
        raise ValueError("alias names are at most 255 characters")
    if not _ALIAS_RE.match(name):
        raise ValueError(f"invalid alias {name!r}: use letters, digits, '_' and '-' only")
    if _RESERVED_ALIAS_RE.match(name):
        raise ValueError(f"alias {name!r} is reserved by MLflow ('latest', 'v<number>')")
    return name


def _check_model_name(name: str) -> str:
    if not name.strip():
        raise ValueError("model name must not be empty")
    if "/" in name or ":" in name:
        raise ValueError(f"invalid model name {name!r}: names cannot contain '/' or ':'")
    if name in (".", ".."):
        raise ValueError(f"invalid model name {name!r}")
    return name


def _check_tag_key(key: str) -> str:
    if not key or len(key) > 250:
        raise ValueError("tag keys are 1 to 250 characters")
    if key.startswith("reconciler."):
        raise ValueError(f"tag {key!r}: the 'reconciler.' prefix is reserved for audit tags")
    return key


AliasName = Annotated[str, AfterValidator(_check_alias)]
ModelName = Annotated[str, AfterValidator(_check_model_name)]
TagKey = Annotated[str, AfterValidator(_check_tag_key)]
VersionNumber = Annotated[StrictInt, Field(gt=0, le=MAX_VERSION)]
"""A version number written as a plain YAML integer (``7``, not ``"7"`` or ``7.0``)."""
VersionKey = Annotated[int, Field(gt=0, le=MAX_VERSION)]
"""A version number used as a mapping key (YAML keys are read as text)."""
Number = StrictInt | StrictFloat
Tags = dict[TagKey, StrictStr]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricRule(_Frozen):
    """One promotion condition on a run metric of the version an alias moves to."""

    metric: Annotated[StrictStr, Field(min_length=1)]
    """Run metric name, e.g. ``val_rmspe``."""
    min: Number | None = None
    """The metric must be >= this."""
    max: Number | None = None
    """The metric must be <= this."""
    better_than: Literal["current"] | None = None
    """The metric must beat the version that holds the alias now."""
    direction: Literal["lower", "higher"] | None = None
    """With ``better_than``: whether lower or higher values are better."""

    @model_validator(mode="after")
    def _one_rule(self) -> MetricRule:
        given = [r for r in ("min", "max", "better_than") if getattr(self, r) is not None]
        if len(given) != 1:
            raise ValueError("a gate needs exactly one of 'min', 'max', 'better_than'")
        if (self.better_than is None) != (self.direction is None):
            raise ValueError("'direction' (lower|higher) goes with 'better_than', and only there")
        return self

    @property
    def rule(self) -> str:
        """The rule's name as written in plans: min, max or better_than."""
        return "min" if self.min is not None else "max" if self.max is not None else "better_than"

    @property
    def better(self) -> Literal["lower", "higher"]:
        """Which way the metric improves, as this rule implies it."""
        if self.direction is not None:
            return self.direction
        return "higher" if self.min is not None else "lower"


class SignatureRule(_Frozen):
    """The candidate's model signature equals the current holder's (inputs and outputs)."""

    signature: Literal["compatible"]


class TagRule(_Frozen):
    """The candidate version carries tag ``tag`` with value ``equals``."""

    tag: Annotated[StrictStr, Field(min_length=1)]
    equals: StrictStr


def _gate_shape(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((f"@{key}" for key in ("metric", "signature", "tag") if key in value), None)
    shapes: dict[type, str] = {MetricRule: "@metric", SignatureRule: "@signature", TagRule: "@tag"}
    return shapes.get(type(value))


def _untagged(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Drop the union's tag (``@metric``...) from error locations: they name no YAML key."""
    try:
        return handler(value)
    except ValidationError as exc:
        details = [
            InitErrorDetails(
                type=PydanticCustomError(err["type"], err["msg"]),
                loc=tuple(p for p in err["loc"] if not str(p).startswith("@")),
                input=err["input"],
            )
            for err in exc.errors(include_url=False)
        ]
        raise ValidationError.from_exception_data(exc.title, details) from None


GateRule = Annotated[
    Annotated[MetricRule, Tag("@metric")]
    | Annotated[SignatureRule, Tag("@signature")]
    | Annotated[TagRule, Tag("@tag")],
    Discriminator(
        _gate_shape,
        custom_error_type="gate_shape",
        custom_error_message="a gate is {metric: NAME, min|max|better_than: ...}, "
        "{signature: compatible} or {tag: KEY, equals: VALUE}",
    ),
]
"""One promotion condition, told apart by its first key: metric, signature or tag."""


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

    @property
    def source(self) -> str:
        """The ``source`` a copy of it carries."""
        return f"models:/{self.from_}/{self.version}"

    def label(self) -> str:
        return f"{self.from_} v{self.version}"


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


Pattern = Annotated[StrictStr, Field(min_length=1, max_length=255)]
"""An fnmatch pattern (``candidate``, ``shadow-*``, ``pipeline.*``), case-sensitive."""


class IgnoreSpec(_Frozen):
    """Keys the state hands back to pipelines and people: never a change or a note; a key
    the state managed before is released, its live value left as it is."""

    aliases: list[Pattern] = []
    """Alias names."""
    tags: list[Pattern] = []
    """Registered-model tag keys."""
    version_tags: list[Pattern] = []
    """Model-version tag keys."""

    def merged(self, other: IgnoreSpec) -> IgnoreSpec:
        """Both sets of patterns (a file's ``defaults`` and a model's own)."""
        return IgnoreSpec(
            aliases=list(dict.fromkeys([*self.aliases, *other.aliases])),
            tags=list(dict.fromkeys([*self.tags, *other.tags])),
            version_tags=list(dict.fromkeys([*self.version_tags, *other.version_tags])),
        )

    def __bool__(self) -> bool:
        return bool(self.aliases or self.tags or self.version_tags)

    def alias(self, name: str) -> str | None:
        """The pattern that ignores alias ``name``, or None."""
        return next((p for p in self.aliases if fnmatchcase(name, p)), None)

    def tag(self, key: str) -> str | None:
        return next((p for p in self.tags if fnmatchcase(key, p)), None)

    def version_tag(self, key: str) -> str | None:
        return next((p for p in self.version_tags if fnmatchcase(key, p)), None)


class Defaults(_Frozen):
    """What applies to every model of one state file."""

    ignore: IgnoreSpec = IgnoreSpec()
    """Merged with each model's own ``ignore``."""


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
        dict[AliasName, Annotated[list[GateRule], Field(min_length=1)]], WrapValidator(_untagged)
    ] = {}
    """alias -> conditions checked when that alias would move."""
    self_heal: StrictBool = False
    """``reconciler serve`` restores this model's last applied state when it drifts."""
    ignore: IgnoreSpec = IgnoreSpec()
    """Keys left to others (fnmatch patterns); merged with the file's ``defaults``."""

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
    defaults: Defaults = Defaults()
    """For every model in this file (``ignore``)."""
    models: dict[ModelName, ModelSpec] = {}

    @model_validator(mode="after")
    def _no_copy_from_itself(self) -> StateFile:
        for name, spec in self.models.items():
            for alias, value in spec.aliases.items():
                if isinstance(value, CopyFrom) and value.from_ == name:
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


def state_schema() -> dict[str, object]:
    """The JSON Schema of a state file, for editors (``reconciler schema``, the demo)."""
    schema = StateFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "registry-reconciler state file"
    return schema
