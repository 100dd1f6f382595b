"""infra/template.yaml as data: loading it and evaluating the intrinsics local provisioning needs.

`resolve` evaluates what is known from a mapping of names: parameters and pseudo-parameters
for `Ref`, `"<LogicalId>.<Attribute>"` keys for `Fn::GetAtt` (and `${LogicalId.Attribute}` in
`Fn::Sub`), logical ids for `Ref` of resources. Anything not (yet) known stays an `Intrinsic`,
so a provisioner can resolve a resource's properties once the resources it refers to exist.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).with_name("template.yaml")

Template = dict[str, Any]


class TemplateError(ValueError):
    """The template cannot be evaluated the way local provisioning needs it."""


@dataclasses.dataclass(frozen=True)
class Intrinsic:
    """A CloudFormation function kept as data, named in long form ("Ref", "Fn::Sub", ...)."""

    name: str
    args: Any


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()
"""What `Ref: AWS::NoValue` resolves to; `resolve` drops it from mappings and lists."""

_SHORT_TAGS = (
    "And", "Base64", "Cidr", "Condition", "Equals", "FindInMap", "GetAZs", "GetAtt", "If",
    "ImportValue", "Join", "Length", "Not", "Or", "Ref", "Select", "Split", "Sub",
    "ToJsonString", "Transform",
)  # fmt: skip


def _long_name(tag: str) -> str:
    return tag if tag in ("Ref", "Condition") else f"Fn::{tag}"


try:  # libyaml's loader, where installed, reads the template ten times faster.
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


class TemplateLoader(_SafeLoader):
    """A SafeLoader that reads the short-form intrinsic tags (`!Ref`, `!Sub`, ...)."""


def _construct_intrinsic(loader: TemplateLoader, node: yaml.Node) -> Intrinsic:
    name = _long_name(str(node.tag)[1:])
    args: Any
    if isinstance(node, yaml.ScalarNode):
        args = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        args = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        args = loader.construct_mapping(node, deep=True)
    if name == "Fn::GetAtt" and isinstance(args, str):
        args = args.split(".", 1)
    return Intrinsic(name, args)


for _tag in _SHORT_TAGS:
    TemplateLoader.add_constructor(f"!{_tag}", _construct_intrinsic)


def _normalise(value: Any) -> Any:
    """Turn long-form intrinsics (`{"Ref": ...}`, `{"Fn::Sub": ...}`) into `Intrinsic`s too."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, args),) = value.items()
            if key == "Ref" or str(key).startswith("Fn::"):
                return Intrinsic(key, _normalise(args))
        return {key: _normalise(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalise(item) for item in value]
    if isinstance(value, Intrinsic):
        return Intrinsic(value.name, _normalise(value.args))
    return value


def load_template(path: Path = TEMPLATE_PATH) -> Template:
    template = _normalise(yaml.load(path.read_text(encoding="utf-8"), Loader=TemplateLoader))
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template")
    return template


def parameter_values(
    template: Template, *, stage: str, account_id: str, region: str, **overrides: str
) -> dict[str, Any]:
    """Parameters (defaults, then `Stage` and `overrides`) and the pseudo-parameters."""
    values: dict[str, Any] = {
        name: spec["Default"]
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec
    }
    values.update(overrides, Stage=stage)
    values.update(
        {
            "AWS::AccountId": account_id,
            "AWS::Region": region,
            "AWS::StackName": f"sides-portal-{stage}",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
    )
    return values


def evaluate_conditions(template: Template, params: Mapping[str, Any]) -> dict[str, bool]:
    """Every entry of `Conditions`, in whatever order they refer to each other."""
    pending = dict(template.get("Conditions", {}))
    evaluated: dict[str, bool] = {}
    while pending:
        done = {}
        for name, expression in pending.items():
            value = resolve(expression, params, evaluated)
            if isinstance(value, bool):
                done[name] = value
        if not done:
            raise TemplateError(f"cannot evaluate conditions {sorted(pending)}")
        evaluated.update(done)
        pending = {name: expr for name, expr in pending.items() if name not in done}
    return evaluated


def resources_of_type(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == resource_type
    }


def is_resolved(value: Any) -> bool:
    return not any(True for _ in _intrinsics(value))


def references(value: Any) -> set[str]:
    """Names a value refers to: `Ref` targets, `GetAtt` logical ids, `Sub` variables."""
    found: set[str] = set()
    for intrinsic in _intrinsics(value):
        if intrinsic.name == "Ref" and isinstance(intrinsic.args, str):
            found.add(intrinsic.args)
        elif intrinsic.name == "Fn::GetAtt":
            found.add(str(intrinsic.args[0]))
        elif intrinsic.name == "Fn::Sub":
            text = intrinsic.args if isinstance(intrinsic.args, str) else intrinsic.args[0]
            local = {} if isinstance(intrinsic.args, str) else intrinsic.args[1]
            found.update(
                match[1].split(".", 1)[0]
                for match in _SUB_VARIABLE.finditer(text)
                if not match[0].startswith("${!") and match[1] not in local
            )
    return found


def _intrinsics(value: Any) -> Iterator[Intrinsic]:
    if isinstance(value, Intrinsic):
        yield value
        yield from _intrinsics(value.args)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _intrinsics(item)
    elif isinstance(value, list):
        for item in value:
            yield from _intrinsics(item)


# --- evaluation -----------------------------------------------------------------------------

_UNRESOLVED = object()
_SUB_VARIABLE = re.compile(r"\$\{!?([^}]*)\}")


@dataclasses.dataclass(frozen=True)
class _Scope:
    names: Mapping[str, Any]
    conditions: Mapping[str, bool]


def resolve(
    value: Any, params: Mapping[str, Any], conditions: Mapping[str, bool] | None = None
) -> Any:
    """Evaluate the intrinsics in `value` as far as `params` (and `conditions`) allow."""
    return _resolve(value, _Scope(params, conditions or {}))


def _resolve(value: Any, scope: _Scope) -> Any:
    if isinstance(value, Intrinsic):
        # The argument list itself keeps NO_VALUE: `!If [c, x, !Ref AWS::NoValue]` needs it.
        args = (
            [_resolve(arg, scope) for arg in value.args]
            if isinstance(value.args, list)
            else _resolve(value.args, scope)
        )
        result = _FUNCTIONS.get(value.name, _keep)(args, scope)
        return Intrinsic(value.name, args) if result is _UNRESOLVED else result
    if isinstance(value, dict):
        items = {key: _resolve(item, scope) for key, item in value.items()}
        return {key: item for key, item in items.items() if item is not NO_VALUE}
    if isinstance(value, list):
        return [item for item in (_resolve(item, scope) for item in value) if item is not NO_VALUE]
    return value


def _keep(args: Any, scope: _Scope) -> Any:
    return _UNRESOLVED


def _ref(name: Any, scope: _Scope) -> Any:
    if name == "AWS::NoValue":
        return NO_VALUE
    return scope.names.get(name, _UNRESOLVED)


def _get_att(args: Any, scope: _Scope) -> Any:
    return scope.names.get(f"{args[0]}.{args[1]}", _UNRESOLVED)


def _sub(args: Any, scope: _Scope) -> Any:
    text, local = (args, {}) if isinstance(args, str) else (args[0], args[1])
    lookup = {**scope.names, **local}
    missing = []

    def substitute(match: re.Match[str]) -> str:
        if match[0].startswith("${!"):
            return "${" + match[1] + "}"
        value = lookup.get(match[1], _UNRESOLVED)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return str(value)
        missing.append(match[1])
        return match[0]

    result = _SUB_VARIABLE.sub(substitute, text)
    return _UNRESOLVED if missing else result


def _if(args: Any, scope: _Scope) -> Any:
    condition, when_true, when_false = args
    if condition not in scope.conditions:
        return _UNRESOLVED
    return when_true if scope.conditions[condition] else when_false


def _condition(name: Any, scope: _Scope) -> Any:
    return scope.conditions.get(name, _UNRESOLVED)


def _when_resolved(function: Callable[[Any], Any]) -> Callable[[Any, _Scope], Any]:
    def evaluate(args: Any, scope: _Scope) -> Any:
        return function(args) if is_resolved(args) else _UNRESOLVED

    return evaluate


_FUNCTIONS: dict[str, Callable[[Any, _Scope], Any]] = {
    "Ref": _ref,
    "Fn::GetAtt": _get_att,
    "Fn::Sub": _sub,
    "Fn::If": _if,
    "Condition": _condition,
    "Fn::Equals": _when_resolved(lambda args: args[0] == args[1]),
    "Fn::Not": _when_resolved(lambda args: not args[0]),
    "Fn::And": _when_resolved(all),
    "Fn::Or": _when_resolved(any),
    "Fn::Join": _when_resolved(lambda args: str(args[0]).join(str(part) for part in args[1])),
    "Fn::Select": _when_resolved(lambda args: args[1][int(args[0])]),
    "Fn::Split": _when_resolved(lambda args: str(args[1]).split(str(args[0]))),
}
