"""Every notebook follows the series' shared format (FORMAT19.md), and the numbers agree.

For each source notebook in ``solutions/``: the title and the introduction's parts in
order; the introduction's points table against nbgrader's metadata; exercise and
written-question headings (pattern, numbering, points against the graded cells that
follow); section headings numbered in order; previous/next links to existing notebooks;
the glossary link to the README's anchor; ``pool_size`` named once, in 01. Then the
README's series table against every notebook's total. ``find_problems`` returns every
problem it finds, so one run lists them all; the last test feeds it broken copies of a
notebook to show that it catches a wrong number, a wrong heading and a broken link.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import pytest
from nbgrader_course import ASSIGNMENTS, REPO, nb_meta, notebook_path

TITLE = re.compile(r"^# (\d\d) · (.+) \(([^()]*[\u4e00-\u9fff][^()]*)\)$")
# The title alone, with or without its Chinese part (for links and the README's table).
LOOSE_TITLE = re.compile(r"^# (\d\d) · (.+?)(?: \([^()]*[\u4e00-\u9fff][^()]*\))?$")
SECTION = re.compile(r"^## (\d+) · (\S.*)$")
GRADED_HEADING = re.compile(r"^### (Exercise|Written question) (\d+) · (\S.*) \((\d+) points?\)$")
# Anything that looks like an exercise or question heading must match GRADED_HEADING.
LOOKS_GRADED = re.compile(r"^#{1,6} +(Exercise|Written question)\b|^\*\*Question\b")
ROW = re.compile(r"^\| *(Exercise|Written question) (\d+) *\| *(.+?) *\| *(\d+) *\|$")
TOTAL = re.compile(r"^\| *\| *\*\*total\*\* *\| *\*\*(\d+)\*\* *\|$")
LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
INTRO_PARTS = ("**You will learn**", "**You need**:", "**Time**: about ", "**Points**")


def _lines(cell) -> list[str]:
    return cell.source.splitlines() if cell.cell_type == "markdown" else []


def title_of(nb) -> str | None:
    """'NN · Title' from the first cell's '# NN · Title (中文)' line, or None."""
    first = nb.cells[0].source.splitlines()[0] if nb.cells else ""
    m = LOOSE_TITLE.match(first)
    return f"{m.group(1)} · {m.group(2)}" if m else None


def graded_points(nb) -> list[int]:
    return [int(nb_meta(c).get("points", 0)) for c in nb.cells if nb_meta(c).get("grade")]


def total_points(nb) -> int:
    return sum(graded_points(nb))


def readme_anchors(readme: str) -> set[str]:
    ids = set(re.findall(r'<a (?:id|name)="([^"]+)"', readme))
    for line in readme.splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            ids.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return ids


def find_problems(nb, assignment: str, path: Path, readme: str) -> list[str]:
    """Every way in which ``nb`` (stored at ``path``) departs from FORMAT19.md."""
    problems: list[str] = []
    index = ASSIGNMENTS.index(assignment)
    number = assignment[:2]

    # Title.
    first = nb.cells[0].source.splitlines()[0] if nb.cells else ""
    m = TITLE.match(first)
    if not m:
        problems.append(f"first line {first!r} is not '# NN · Title (中文标题)'")
    elif m.group(1) != number:
        problems.append(f"title number {m.group(1)} is not the assignment's {number}")

    # The introduction: every cell before the first section heading.
    first_section = next(
        (i for i, c in enumerate(nb.cells) if any(SECTION.match(x) for x in _lines(c))),
        len(nb.cells),
    )
    intro = "\n".join(c.source for c in nb.cells[:first_section] if c.cell_type == "markdown")
    positions = [intro.find(part) for part in INTRO_PARTS]
    for part, pos in zip(INTRO_PARTS, positions, strict=True):
        if pos < 0:
            problems.append(f"the introduction has no {part!r}")
    found = [p for p in positions if p >= 0]
    if found != sorted(found):
        problems.append(f"the introduction's parts are not in the order {INTRO_PARTS}")
    learn = intro.split("**You will learn**", 1)[-1].split("**You need**", 1)[0]
    bullets = [x for x in learn.splitlines() if x.startswith("- ")]
    if positions[0] >= 0 and not 3 <= len(bullets) <= 5:
        problems.append(f"'You will learn' has {len(bullets)} bullets; the format asks for 3-5")
    if not re.search(r"\*\*Time\*\*: about \d+ minutes\.", intro):
        problems.append("no '**Time**: about N minutes.' line")

    # Headings of exercises and written questions, and the graded cells under each.
    groups: list[dict] = []
    headings_seen = 0
    for i, cell in enumerate(nb.cells):
        for line in _lines(cell):
            if LOOKS_GRADED.match(line):
                h = GRADED_HEADING.match(line)
                if not h:
                    problems.append(f"cell {i}: heading {line!r} does not follow the format")
                    continue
                kind, n, title, p = h.group(1), int(h.group(2)), h.group(3), int(h.group(4))
                if (p == 1) != line.endswith("(1 point)"):
                    problems.append(f"cell {i}: {line!r}: write '1 point' and 'N points'")
                groups.append(dict(kind=kind, n=n, title=title, p=p, got=[], cell=i))
            elif SECTION.match(line) and i >= first_section:
                headings_seen += 1
        meta = nb_meta(cell)
        if meta.get("grade"):
            gid, pts = meta.get("grade_id"), int(meta.get("points", 0))
            if not groups:
                problems.append(f"graded cell {gid!r} comes before any exercise heading")
                continue
            group = groups[-1]
            written = cell.cell_type == "markdown"
            if written != (group["kind"] == "Written question"):
                problems.append(
                    f"graded {cell.cell_type} cell {gid!r} sits under {group['kind']} {group['n']}"
                )
            group["got"].append(pts)
    for kind in ("Exercise", "Written question"):
        numbers = [g["n"] for g in groups if g["kind"] == kind]
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"{kind} headings are numbered {numbers}, not 1, 2, 3...")
    for g in groups:
        if sum(g["got"]) != g["p"] or not g["got"]:
            problems.append(
                f"'{g['kind']} {g['n']} · {g['title']}' says {g['p']} points; the graded cells "
                f"under it carry {g['got']}"
            )
        if g["kind"] == "Written question" and len(g["got"]) != 1:
            problems.append(f"Written question {g['n']} has {len(g['got'])} answer cells, not 1")

    # Sections: '## N · Title', numbered 1, 2, 3... in order.
    sections = [
        line
        for c in nb.cells[first_section:]
        for line in _lines(c)
        if line.startswith("## ") and not line.startswith("###")
    ]
    numbers = []
    for line in sections:
        s = SECTION.match(line)
        if not s:
            problems.append(f"section heading {line!r} is not '## N · Title'")
        else:
            numbers.append(int(s.group(1)))
    if numbers != list(range(1, len(numbers) + 1)):
        problems.append(f"sections are numbered {numbers}, not 1, 2, 3...")

    # The points table against the headings and nbgrader's metadata.
    rows = [ROW.match(x.strip()) for x in intro.splitlines()]
    rows = [(r.group(1), int(r.group(2)), r.group(3), int(r.group(4))) for r in rows if r]
    expected_rows = [
        (
            g["kind"],
            g["n"],
            g["title"] + (" (graded by hand)" if g["kind"] == "Written question" else ""),
            sum(g["got"]),
        )
        for g in groups
    ]
    if rows != expected_rows:
        problems.append(
            f"the points table has rows {rows}; the headings and metadata give {expected_rows}"
        )
    totals = [int(t.group(1)) for x in intro.splitlines() if (t := TOTAL.match(x.strip()))]
    if totals != [total_points(nb)]:
        problems.append(
            f"the points table's total is {totals}; nbgrader's metadata adds up to "
            f"{total_points(nb)}"
        )

    # Navigation: previous, next, glossary.
    links = dict((text, target) for text, target in LINK.findall(intro))
    nav = [x for x in intro.splitlines() if "Next:" in x or "Previous:" in x or "glossary" in x]
    nav_text = " ".join(nav)
    for word, other in (("Previous", index - 1), ("Next", index + 1)):
        link = re.search(word + r": \[([^\]]+)\]\(([^)\s]+)\)", nav_text)
        if 0 <= other < len(ASSIGNMENTS):
            if not link:
                problems.append(f"no '{word}: [NN · Title](link)' in the introduction")
                continue
            target = (path.parent / link.group(2)).resolve()
            other_id = ASSIGNMENTS[other]
            if target != notebook_path(path.parents[2], path.parents[1].name, other_id):
                problems.append(f"{word} links to {link.group(2)}, not to {other_id}")
            elif not target.exists():
                problems.append(f"{word} links to {link.group(2)}, which does not exist")
            else:
                other_title = title_of(nbformat.read(target, as_version=4))
                if link.group(1) != other_title:
                    problems.append(
                        f"{word}'s text {link.group(1)!r} is not the notebook's title "
                        f"{other_title!r}"
                    )
        elif link:
            problems.append(f"{assignment} has a '{word}' link, but there is no such notebook")
    glossary = links.get("glossary")
    if glossary is None:
        problems.append("no [glossary](...) link in the introduction")
    else:
        file, _, anchor = glossary.partition("#")
        target = (path.parent / file).resolve()
        if target != path.parents[2].resolve() / "README.md":
            problems.append(f"the glossary link {glossary} does not lead to the README")
        elif anchor not in readme_anchors(readme):
            problems.append(f"the README has no anchor #{anchor}")

    # One name for the window: torch's kernel_size; 01 mentions d2l's pool_size once.
    mentions = sum(c.source.count("pool_size") for c in nb.cells)
    if mentions != (1 if index == 0 else 0):
        problems.append(
            f"`pool_size` appears {mentions} times (01 names it once, the others never)"
        )
    return problems


@pytest.fixture(scope="module")
def readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_notebook_follows_the_series_format(assignment, readme):
    path = notebook_path(REPO, "solutions", assignment)
    problems = find_problems(nbformat.read(path, as_version=4), assignment, path, readme)
    assert not problems, f"{assignment}:\n- " + "\n- ".join(problems)


def test_readme_series_table_equals_the_notebooks_totals(readme):
    section = readme.split('<a id="points"></a>', 1)
    assert len(section) == 2, "the README has no series points table (anchor #points)"
    rows = re.findall(r"^\| *\[(\d\d · [^\]]+)\]\(([^)]+)\) *\| *(\d+) *\|$", section[1], re.M)
    totals = {}
    for assignment in ASSIGNMENTS:
        nb = nbformat.read(notebook_path(REPO, "solutions", assignment), as_version=4)
        totals[assignment] = (title_of(nb), total_points(nb))
    got = [(t, Path(link).parent.name, int(p)) for t, link, p in rows]
    expected = [(title, a, pts) for a, (title, pts) in totals.items()]
    assert got == expected, f"README's series table {got}; the notebooks say {expected}"
    for _, link, _ in rows:
        assert (REPO / link).exists(), f"the README's table links to {link}, which does not exist"
    total = re.search(r"^\| *\*\*total\*\* *\| *\*\*(\d+)\*\* *\|$", section[1], re.M)
    assert total and int(total.group(1)) == sum(p for _, p in totals.values()), (
        f"README's series total {total and total.group(1)}; the notebooks add up to "
        f"{sum(p for _, p in totals.values())}"
    )


def _replace_in_cells(nb, old: str, new: str, count: int = 1):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if old in cell.source:
            cell.source = cell.source.replace(old, new, count)
            return nb
    raise AssertionError(f"{old!r} is not in the notebook, so the mutation test would be empty")


def test_the_format_check_catches_wrong_numbers_headings_and_links(readme):
    assignment = ASSIGNMENTS[0]
    path = notebook_path(REPO, "solutions", assignment)
    nb = nbformat.read(path, as_version=4)
    assert find_problems(nb, assignment, path, readme) == []
    mutations = {
        "a table row's points": (
            "| Exercise 1 | Pooling with loops | 4 |",
            "| Exercise 1 | Pooling with loops | 5 |",
        ),
        "the table's total": ("| | **total** | **", "| | **total** | **1"),
        "a heading's points": (
            "### Exercise 2 · The output-size rule (4 points)",
            "### Exercise 2 · The output-size rule (3 points)",
        ),
        "a heading's number": ("### Exercise 3 ·", "### Exercise 4 ·"),
        "a heading's format": ("### Exercise 1 · ", "### Exercise 1: "),
        "the next link": (
            "../02-pooling-as-convolution/02-pooling-as-convolution.ipynb",
            "../02-pooling/02-pooling.ipynb",
        ),
        "the glossary anchor": ("README.md#glossary", "README.md#glosary"),
        "a missing part": ("**Time**: about ", "**Duration**: about "),
        "a section number": ("## 2 · ", "## 3 · "),
    }
    for what, (old, new) in mutations.items():
        problems = find_problems(_replace_in_cells(nb, old, new), assignment, path, readme)
        assert problems, f"changing {what} ({old!r} -> {new!r}) went unnoticed"
    wrong = copy.deepcopy(nb)
    graded = next(c for c in wrong.cells if nb_meta(c).get("grade"))
    graded.metadata["nbgrader"]["points"] += 1
    assert find_problems(wrong, assignment, path, readme), "a changed points value went unnoticed"
