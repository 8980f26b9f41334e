"""Assemble docs/figures.md from the full figure runs in figures/NAME/.

    python scripts/figures_doc.py            # after `make figures`

Copies each figure's PNG into docs/figures/ and concatenates the figures' README.md files
(our numbers beside the paper's) under docs/figures_header.md, with each run's command and
wall time from its run.json.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["grid_extension", "scaling", "special", "feynman", "hellokan"]


def section(name: str) -> str:
    src = ROOT / "figures" / name
    readme = (src / "README.md").read_text()
    info = json.loads((src / "run.json").read_text()) if (src / "run.json").is_file() else {}
    dest = ROOT / "docs" / "figures"
    dest.mkdir(parents=True, exist_ok=True)
    for png in re.findall(r"\]\(([\w.-]+\.png)\)", readme):
        shutil.copyfile(src / png, dest / png)
        readme = readme.replace(f"]({png})", f"](figures/{png})")
    readme = re.sub(r"^# ", "## ", readme, count=1, flags=re.M)
    extra = " ".join(info.get("overrides", []))
    wall = info.get("wall_seconds")
    timing = info.get("wall_note") or (f"{wall / 60:.1f} min" if wall else "not recorded")
    how = (f"Command: `kanrun figure {name} --jobs {info.get('jobs', 2)}"
           f"{' ' + extra if extra else ''}` — wall time {timing} on this 2-core machine.\n\n")
    head, _, body = readme.partition("\n")
    return f"{head}\n\n{how}{body.strip()}\n"


def main() -> int:
    missing = [n for n in ORDER if not (ROOT / "figures" / n / "README.md").is_file()]
    if missing:
        print(f"error: no full run of {missing} in figures/ (run `make figures` first)",
              file=sys.stderr)
        return 1
    header_path = ROOT / "docs" / "figures_header.md"
    header = header_path.read_text() if header_path.is_file() else "# Paper figures\n"
    text = header.rstrip() + "\n\n" + "\n".join(section(n) for n in ORDER)
    (ROOT / "docs" / "figures.md").write_text(text)
    print(f"wrote {ROOT / 'docs' / 'figures.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
