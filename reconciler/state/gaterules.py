"""Promotion gates as written in a state file: metric, signature, tag and soak rules."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictStr,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from reconciler.state.names import Frozen as _Frozen
from reconciler.state.names import Number, _check_alias, _check_model_name, check_registry
from reconciler.state.windows import Duration, parse_duration


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


def _check_where(text: str) -> str:
    """``ALIAS``, ``MODEL@ALIAS`` or ``REGISTRY:MODEL@ALIAS`` (a model on another server)."""
    model, _, alias = text.rpartition("@")
    registry, colon, name = model.partition(":")
    if colon:
        check_registry(registry)
    if model:
        _check_model_name(name if colon else model)
    _check_alias(alias)
    return text


class SoakRule(_Frozen):
    """The candidate (a copy's source) has held an alias for ``soak`` (SPEC v4 §18),
    counted from the verified apply that set it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    soak: Duration
    """How long, e.g. ``24h``."""
    in_: Annotated[StrictStr, AfterValidator(_check_where)] = Field(alias="in")
    """``ALIAS`` of this model, ``MODEL@ALIAS``, or ``REGISTRY:MODEL@ALIAS`` (SPEC v4 §19)."""

    def where(self, model: str) -> tuple[str, str]:
        """(model, alias) the candidate must have held; ``model``: the gated one."""
        other, _, alias = self.in_.rpartition("@")
        return (other or model), alias

    @property
    def seconds(self) -> int:
        return int(parse_duration(self.soak).total_seconds())


def _gate_shape(value: Any) -> str | None:
    if isinstance(value, dict):
        keys = ("metric", "signature", "tag", "soak")
        return next((f"@{key}" for key in keys if key in value), None)
    shapes: dict[type, str] = {
        MetricRule: "@metric",
        SignatureRule: "@signature",
        TagRule: "@tag",
        SoakRule: "@soak",
    }
    return shapes.get(type(value))


def untagged(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
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
    | Annotated[TagRule, Tag("@tag")]
    | Annotated[SoakRule, Tag("@soak")],
    Discriminator(
        _gate_shape,
        custom_error_type="gate_shape",
        custom_error_message="a gate is {metric: NAME, min|max|better_than: ...}, "
        "{signature: compatible}, {tag: KEY, equals: VALUE} or {soak: 24h, in: ALIAS}",
    ),
]
"""One promotion condition, told apart by its key: metric, signature, tag or soak."""
