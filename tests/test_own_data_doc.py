"""docs/own_data.md lists every built-in layout with its joints in the order the code has them."""
import re
from pathlib import Path

from pygkd.skeleton import Layout, builtin, get_layout

DOC = Path(__file__).resolve().parents[1] / "docs" / "own_data.md"


def test_the_layout_table_matches_the_built_in_layouts():
    rows = re.findall(r"^\| `(\w+)` \| (\d+) \| (\w+) \| (.+) \|$", DOC.read_text(), flags=re.M)
    built_in = sorted(v.name for v in vars(builtin).values() if isinstance(v, Layout))  # not a test's own
    assert [r[0] for r in rows] == built_in
    for name, count, centre, order in rows:
        layout = get_layout(name)
        assert int(count) == layout.num_joints and centre == layout.joints[layout.center]
        assert order.split(", ") == [f"{i} {j}" for i, j in enumerate(layout.joints)]
