"""Retention playbook: a YAML file mapping an at-risk customer to a suggested action.

The file lists actions in order, each with a ``when`` expression over the customer's
segments, value and churn drivers; the first action whose expression is true is the
suggestion. Expressions are checked and evaluated exactly like rule segments
(:mod:`segstream.models.rules`): simpleeval, never ``eval``; only :data:`PLAYBOOK_NAMES`
and the safe functions; no attribute access. ``drivers`` is a tuple of driver names
(``"complaints" in drivers``) and ``segments`` a dict dimension -> segment code, read by
subscripting or ``in`` (``"relationship" in segments and segments["relationship"] == "x"``);
``segments.get(...)`` is attribute access and is rejected. A missing name is ``None``; an
expression that fails on it (a comparison with ``None``, a missing key) is no match. A bad
file raises :class:`PlaybookError` naming the line and the reason.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from simpleeval import EvalWithCompoundTypes, InvalidExpression

from segstream.models.rules import RULE_NAMES, SAFE_FUNCTIONS, _compile, _load_yaml, load_file

__all__ = ["PLAYBOOK_NAMES", "Action", "Playbook", "PlaybookError", "load_playbook", "parse_playbook"]

#: Names a ``when`` expression may use (anything else is reported with its line): every name
#: a rule may use (:data:`segstream.models.rules.RULE_NAMES`, custom attributes as
#: ``attrs["tier"]`` included) and the scores an at-risk customer has.
PLAYBOOK_NAMES: Final = RULE_NAMES | frozenset(
    {
        # segments and scores
        "cluster", "value_tier", "churn_score", "top_driver", "drivers", "clv", "p_alive", "expected_purchases",
        "segments",
        # the profile's renewal
        "days_to_renewal",
    }
)  # fmt: skip

# an expression failing on a missing (None) name or key is no match, not an error
_NO_MATCH: Final = (TypeError, ValueError, ArithmeticError, LookupError, InvalidExpression)


class PlaybookError(ValueError):
    """The playbook file is invalid; ``str()`` names the line and the reason."""


@dataclass(frozen=True, slots=True)
class Action:
    """One entry of the playbook: suggest ``code`` when ``expression`` is true.

    Attributes
    ----------
    code : str
        The action code (the same code may appear for several conditions).
    expression : str
        The ``when`` expression, as written.
    line : int
        The line of the ``when`` expression in the file.
    labels : Mapping[str, str]
        Display text per language (``en``, ``zh-CN``, ...).
    tree : ast.AST
        The compiled expression.
    names : frozenset[str]
        The names the expression reads.
    """

    code: str
    expression: str
    line: int
    labels: Mapping[str, str]
    tree: ast.AST = field(compare=False, repr=False)
    names: frozenset[str] = frozenset()

    def label(self, language: str) -> str:
        """The label in ``language``, else in English, else the action code."""
        return self.labels.get(language) or self.labels.get("en") or self.code


@dataclass(frozen=True, slots=True)
class Playbook:
    """Actions in file order; the first whose ``when`` is true is the suggestion."""

    actions: tuple[Action, ...]
    source: str = ""
    # one evaluator reused for every customer; names set per call
    evaluator: EvalWithCompoundTypes = field(
        default_factory=lambda: EvalWithCompoundTypes(names={}, functions=SAFE_FUNCTIONS), compare=False, repr=False
    )

    def action_for(self, names: Mapping[str, Any]) -> Action | None:
        """The first action whose ``when`` is true for these names, or ``None``.

        Parameters
        ----------
        names : Mapping[str, Any]
            The customer's values; names outside :data:`PLAYBOOK_NAMES` are ignored and
            missing ones are ``None``.

        Returns
        -------
        Action or None
            The first matching action, ``None`` if no action matches.

        Examples
        --------
        >>> pb = parse_playbook('''
        ... actions:
        ...   - action: service_call
        ...     label: {en: Service call, zh-CN: 客服回访}
        ...     when: open_complaints > 0
        ...   - action: reengagement
        ...     when: '"usage_decline" in drivers'
        ... ''')
        >>> pb.action_for({"open_complaints": 2}).label("zh-CN")
        '客服回访'
        >>> pb.action_for({"open_complaints": 0, "drivers": ("usage_decline",)}).code
        'reengagement'
        >>> pb.action_for({}) is None
        True
        """
        ev = self.evaluator
        ev.names = {n: names.get(n) for n in PLAYBOOK_NAMES}
        for action in self.actions:
            try:
                hit = ev.eval(action.expression, previously_parsed=action.tree)
            except _NO_MATCH:
                hit = False
            if hit:
                return action
        return None


def parse_playbook(text: str) -> Playbook:
    """Parse and check a playbook file.

    Parameters
    ----------
    text : str
        YAML with a top-level ``actions:`` list; each item has ``action:`` (text),
        ``when:`` (expression) and optionally ``label: {en: ..., zh-CN: ...}``.

    Returns
    -------
    Playbook

    Raises
    ------
    PlaybookError
        On any mistake, naming the line and the reason.
    """
    doc = _load_yaml(text, PlaybookError)
    if not isinstance(doc, dict) or not isinstance(doc.get("actions"), list) or not doc["actions"]:
        raise PlaybookError("line 1: the file needs a top-level `actions:` list")
    actions = []
    for item in doc["actions"]:
        line = item.get("__line__", 0) if isinstance(item, dict) else 0
        if not isinstance(item, dict) or not isinstance(item.get("action"), str) or "when" not in item:
            raise PlaybookError(f"line {line}: each action needs `action:` (text) and `when:` (expression)")
        expression = str(item["when"])
        line = item["__lines__"].get("when", line)
        tree, used = _compile(expression, line, PLAYBOOK_NAMES, PlaybookError)
        label = item.get("label") or {}
        if not isinstance(label, dict):
            raise PlaybookError(
                f"line {item['__lines__'].get('label', line)}: `label:` needs languages, e.g. {{en: ..., zh-CN: ...}}"
            )
        labels = {str(k): str(v) for k, v in label.items() if not str(k).startswith("__")}
        actions.append(Action(item["action"], expression, line, labels, tree, used))
    return Playbook(tuple(actions), text)


def load_playbook(path: Path) -> Playbook:
    """Read and parse a playbook file; errors are prefixed with ``path``.

    Raises
    ------
    PlaybookError
        ``"<path>: cannot read: ..."`` if the file cannot be read, else as :func:`parse_playbook`.
    """
    return load_file(path, parse_playbook, PlaybookError)
