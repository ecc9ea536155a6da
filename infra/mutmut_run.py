"""``mutmut`` with one compatibility fix: what ``make mutation`` runs (same arguments).

mutmut 3.5-3.7 read ``item._nodeid`` of each test, which pytest 9 no longer has; mutmut
3.8 reads ``nodeid`` but needs click>=8.4.2, which faust-streaming 0.15 excludes. So the
test extras pin mutmut<3.8 and this gives pytest's nodes the old name back.
"""

from __future__ import annotations

import sys

from _pytest.nodes import Node

if not hasattr(Node, "_nodeid"):
    Node._nodeid = property(lambda self: self.nodeid)  # type: ignore[attr-defined]

from mutmut.__main__ import cli

if __name__ == "__main__":
    sys.exit(cli())
