"""Rule segments declared in a YAML file, evaluated with simpleeval (never ``eval``).

A file declares dimensions; each dimension lists segments with a ``when`` expression over
the customer's attributes and features. The first segment whose expression is true wins;
a customer matching none has no segment in that dimension. A bad file raises
:class:`RulesError` naming the line and the reason, so the caller can keep the rules it had.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import yaml
from simpleeval import EvalWithCompoundTypes, InvalidExpression

T = TypeVar("T")

#: Names a rule may use (anything else is a mistake in the file, reported with its line).
RULE_NAMES: Final = frozenset(
    {
        # profile attributes
        "kind", "name", "industry", "company_size", "region", "city", "city_tier", "ownership",
        "contract", "partner", "age_band", "gender", "income_band", "tenure_days",
        # features
        "purchases", "spend", "recency_days", "usage_rate", "usage_trend", "distinct_features",
        "satisfaction", "nps_class", "open_complaints", "rfm", "lifecycle",
        # purchase mix, weighted use, services, complaint severity
        "discount_share", "discount_spend_share", "discount_depth", "channel", "channel_share", "categories",
        "top_category", "usage_units_rate", "usage_minutes_rate", "services_30d", "complaint_severity",
        # custom profile attributes: attrs["tier"] (None when the customer has no such attribute)
        "attrs",
    }
)  # fmt: skip
SAFE_FUNCTIONS: Final = {"min": min, "max": max, "abs": abs, "len": len}

#: Which part of a customer's state each name comes from: a dimension is re-evaluated only
#: when a part it reads changed (``time``: moves with the stream clock alone).
NAME_PARTS: Final = {
    **dict.fromkeys(
        ("kind", "name", "industry", "company_size", "region", "city", "city_tier", "ownership", "contract",
         "partner", "age_band", "gender", "income_band"), "profile",
    ),
    "tenure_days": "time", "purchases": "purchases", "spend": "purchases", "recency_days": "time",
    "usage_rate": "usage", "usage_trend": "usage", "distinct_features": "usage", "satisfaction": "feedback",
    "nps_class": "feedback", "open_complaints": "feedback", "rfm": "segments", "lifecycle": "segments",
    **dict.fromkeys(
        ("discount_share", "discount_spend_share", "discount_depth", "channel", "channel_share", "categories",
         "top_category"), "purchases",
    ),
    "usage_units_rate": "usage", "usage_minutes_rate": "usage", "services_30d": "usage",  # ages out: the sweep
    "complaint_severity": "feedback", "attrs": "profile",
}  # fmt: skip


class Attrs(dict[str, Any]):
    """A customer's custom attributes for rule expressions: a missing one reads as ``None``
    (so ``attrs["tier"] == "gold"`` is simply false for a customer without a tier).

    >>> a = Attrs({"tier": "gold"})
    >>> a["tier"], a["pets"]
    ('gold', None)
    """

    def __missing__(self, key: str) -> None:
        return None


class RulesError(ValueError):
    """The rules file is invalid; ``str()`` names the line and the reason."""


@dataclass(frozen=True, slots=True)
class Rule:
    segment: str
    expression: str
    line: int
    tree: ast.AST
    names: frozenset[str]
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Dimensions of rules, in file order."""

    dimensions: Mapping[str, tuple[Rule, ...]]
    source: str = ""
    # one evaluator reused for every customer (building one costs ~40 µs); names set per call
    evaluator: EvalWithCompoundTypes = field(
        default_factory=lambda: EvalWithCompoundTypes(names={}, functions=SAFE_FUNCTIONS), compare=False, repr=False
    )
    _parts: dict[str, frozenset[str]] = field(init=False, compare=False, repr=False)
    # affected dimensions per set of changed parts (few distinct sets: asked once per customer)
    _affected: dict[frozenset[str] | None, list[str]] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        parts = {d: frozenset(NAME_PARTS[n] for r in rules for n in r.names) for d, rules in self.dimensions.items()}
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "_affected", {})

    def parts(self, dimension: str) -> frozenset[str]:
        """The parts of the state (see :data:`NAME_PARTS`) a dimension's rules read."""
        return self._parts[dimension]

    def affected(self, changed: frozenset[str] | None) -> list[str]:
        """The dimensions to re-evaluate when these parts changed (``None``: all)."""
        dims = self._affected.get(changed)
        if dims is None:
            dims = [d for d in self.dimensions if changed is None or self.parts(d) & changed]
            self._affected[changed] = dims
        return list(dims)

    def evaluate(
        self, names: Mapping[str, Any], changed: frozenset[str] | None = None
    ) -> dict[str, tuple[str, Rule] | None]:
        """Per dimension, the first matching segment and its rule (or ``None``); with
        ``changed``, only the dimensions that read one of those parts.

        >>> rs = parse_rules('''
        ... dimensions:
        ...   company_size:
        ...     - segment: enterprise
        ...       when: company_size == "enterprise"
        ...     - segment: smb
        ...       when: company_size in ("micro", "sme")
        ... ''')
        >>> {d: (m[0] if m else None) for d, m in rs.evaluate({"company_size": "sme"}).items()}
        {'company_size': 'smb'}
        """
        ev = self.evaluator
        ev.names = {n: names.get(n) for n in RULE_NAMES}
        out: dict[str, tuple[str, Rule] | None] = {}
        for dim in self.affected(changed):
            out[dim] = None
            rules = self.dimensions[dim]
            for rule in rules:
                try:
                    hit = ev.eval(rule.expression, previously_parsed=rule.tree)
                except (TypeError, ValueError, ArithmeticError, InvalidExpression):
                    hit = False  # a comparison with a missing (None) attribute is simply no match
                if hit:
                    out[dim] = (rule.segment, rule)
                    break
        return out

    def label(self, dimension: str, segment: str, language: str) -> str:
        for rule in self.dimensions.get(dimension, ()):
            if rule.segment == segment:
                return rule.labels.get(language) or rule.labels.get("en") or segment
        return segment


class _LineLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that records the line of every mapping (as ``__line__``)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping: dict[str, Any] = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__lines__"] = {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load_yaml(text: str, error: type[ValueError] = RulesError) -> Any:
    """The YAML document of ``text`` (mappings carry ``__line__``/``__lines__``); ``error`` names the line."""
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        raise error(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def load_file(path: Path, parse: Callable[[str], T], error: type[ValueError]) -> T:
    """``parse`` of a UTF-8 file's text; any failure is ``error`` naming the file (and,
    from ``parse``, the line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: cannot read: {exc}") from None
    try:
        return parse(text)
    except error as exc:
        raise error(f"{path}: {exc}") from None


def _compile(
    expression: str, line: int, allowed_names: frozenset[str] = RULE_NAMES, error: type[ValueError] = RulesError
) -> tuple[ast.AST, frozenset[str]]:
    """Parse and check one ``when`` expression: the tree and the names it reads.

    Only ``allowed_names`` and :data:`SAFE_FUNCTIONS` may appear; no attribute access. A
    mistake raises ``error`` naming the line and the reason.
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError as exc:
        raise error(f"line {line}: invalid expression {expression!r}: {exc.msg}") from None
    if any(isinstance(n, ast.Attribute) for n in ast.walk(tree)):
        raise error(f"line {line}: attribute access is not allowed in {expression!r}")
    used = frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)) - {"True", "False", "None"}
    called = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    unknown = used - allowed_names - called
    if unknown:
        raise error(f"line {line}: unknown name(s) {', '.join(sorted(unknown))} in {expression!r}")
    if called - set(SAFE_FUNCTIONS):
        raise error(f"line {line}: function(s) {', '.join(sorted(called - set(SAFE_FUNCTIONS)))} not allowed")
    probe = EvalWithCompoundTypes(names=dict.fromkeys(allowed_names), functions=SAFE_FUNCTIONS)
    try:  # reject constructs simpleeval does not allow (attributes, lambdas, ...) now, not per event
        probe.eval(expression.strip(), previously_parsed=tree)
    except InvalidExpression as exc:
        raise error(f"line {line}: {exc} in {expression!r}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError):
        pass  # None operands (or a missing key/index): fine at load time
    return tree, used - called


def parse_rules(text: str) -> RuleSet:
    """Parse and check a rules file; raise :class:`RulesError` with the line on any mistake."""
    doc = _load_yaml(text)
    if not isinstance(doc, dict) or not isinstance(doc.get("dimensions"), dict):
        raise RulesError("line 1: the file needs a top-level `dimensions:` mapping")
    dims: dict[str, tuple[Rule, ...]] = {}
    for dim, rules in doc["dimensions"].items():
        if dim in ("__line__", "__lines__"):
            continue
        if not isinstance(rules, list) or not rules:
            line = doc["dimensions"]["__lines__"].get(dim, doc["dimensions"]["__line__"])
            raise RulesError(f"line {line}: dimension {dim!r} needs a list of segments")
        compiled = []
        for r in rules:
            line = r.get("__line__", 0) if isinstance(r, dict) else 0
            if not isinstance(r, dict) or not isinstance(r.get("segment"), str) or "when" not in r:
                raise RulesError(f"line {line}: each segment needs `segment:` (text) and `when:` (expression)")
            expression = str(r["when"])
            line = r["__lines__"].get("when", line)
            tree, used = _compile(expression, line)
            label = r.get("label") or {}
            if not isinstance(label, dict):
                raise RulesError(
                    f"line {r['__lines__'].get('label', line)}: `label:` needs languages, e.g. {{en: ..., zh-CN: ...}}"
                )
            labels = {k: str(v) for k, v in label.items() if not k.startswith("__")}
            compiled.append(Rule(r["segment"], expression, line, tree, used, labels))
        dims[str(dim)] = tuple(compiled)
    return RuleSet(dims, text)
