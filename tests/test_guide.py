"""docs/guide.md runs as written: every ```python block, in order, one namespace per ``## ``
section (as a reader going through it in one session).  A block that starts with ``>>>``
is a doctest (what the guide says it prints is what it prints); any other block checks
itself with ``assert``.  A block right after ``<!-- needs: torch -->`` is skipped, with the
reason printed, where the torch backend cannot run."""
import doctest
import re
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
import chainrule.ops.registry as registry
from backend_fixtures import backend  # noqa: F401  (a pytest fixture)

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "guide.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
NEEDS = re.compile(r"<!-- needs: (\w+) -->\s*\Z")
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def sections(text=None):
    """[(title, [(line, language, source, needs)])] for every ``## `` section of the guide."""
    text = GUIDE.read_text() if text is None else text
    starts = [m.start() for m in re.finditer(r"^## ", text, re.M)]
    out = []
    for begin, end in zip(starts, starts[1:] + [len(text)]):
        part = text[begin:end]
        title = part.splitlines()[0][3:].strip()
        blocks = []
        for m in FENCE.finditer(part):
            needs = NEEDS.search(part[:m.start()])
            line = text.count("\n", 0, begin + m.start(2)) + 1
            blocks.append((line, m.group(1), m.group(2), needs.group(1) if needs else None))
        out.append((title, blocks))
    return out


def _unavailable(backend):
    return cr.backends.available().get(backend, f"backend {backend!r} is not registered")


def run_block(line, source, namespace):
    """Run one python block in ``namespace``; fail with the guide's line numbers."""
    if source.lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(source, namespace, f"docs/guide.md:{line}",
                                                   str(GUIDE), line - 1)
        report = []
        runner = doctest.DocTestRunner(optionflags=FLAGS, verbose=False)
        result = runner.run(test, out=report.append, clear_globs=False)
        namespace.update(test.globs)          # DocTest ran on a copy: keep what it defined
        assert result.failed == 0, "".join(report)
    else:   # blank lines in front, so a traceback points at the guide's line
        exec(compile("\n" * (line - 1) + source, str(GUIDE), "exec"), namespace)


@pytest.fixture
def clean_registries():
    """Ops and plugins a section registers are removed afterwards (other tests never see them)."""
    ops_before = set(registry._registry)
    plugins_before = {info.name for info in cr.plugins.list()}
    yield
    for name in set(registry._registry) - ops_before:
        registry._registry.pop(name, None)
    for name in {info.name for info in cr.plugins.list()} - plugins_before:
        cr.plugins.unregister(name)


@pytest.mark.parametrize("title,blocks", sections(), ids=[t for t, _ in sections()])
def test_guide_section_runs_as_written(title, blocks, clean_registries, capsys):
    namespace = {"__name__": "__main__"}
    skipped = []
    for line, language, source, needs in blocks:
        if language != "python":
            continue
        reason = _unavailable(needs) if needs else None
        if reason:
            skipped.append(f"docs/guide.md:{line} needs {needs}: {reason}")
            continue
        run_block(line, source, namespace)
    if skipped:
        with capsys.disabled():
            print("\n" + "\n".join(f"skipped {s}" for s in skipped))


ASSERTING = [(title, blocks) for title, blocks in sections()
             if any(lang == "python" and not src.lstrip().startswith(">>>") for _, lang, src, _ in blocks)]


@pytest.mark.parametrize("title,blocks", ASSERTING, ids=[t for t, _ in ASSERTING])
def test_guide_checks_hold_on_every_backend(title, blocks, backend, clean_registries):
    """The blocks that check themselves with ``assert`` (training, per-example gradients,
    plugins, the torch/JAX table) hold on every backend, not only the default NumPy one (the
    doctests print reprs that name the backend, so they run on the default only)."""
    namespace = {"__name__": "__main__", "cr": cr}
    for line, language, source, needs in blocks:
        if language == "python" and not source.lstrip().startswith(">>>") and not (
                needs and _unavailable(needs)):
            run_block(line, source, namespace)


def test_every_code_block_is_run_or_shell():
    """A block in any other language would silently go untested: only python (run here) and
    bash / toml (commands and configuration shown to the reader) are allowed; the guide has
    python blocks in every section but the table's (whose rows are a python block too)."""
    found = [(t, line, lang) for t, blocks in sections() for line, lang, _, _ in blocks]
    odd = [(line, lang) for _, line, lang in found if lang not in ("python", "bash", "toml")]
    assert not odd, f"code blocks in docs/guide.md that no test runs: {odd}"
    for title, blocks in sections():
        assert any(lang == "python" for _, lang, _, _ in blocks), f"section {title!r} runs nothing"


def test_a_wrong_output_in_the_guide_fails(tmp_path):
    """The harness can fail: a doctest whose printed value is wrong, and an assert that does not
    hold, are reported with the guide's line number."""
    text = "## One\n\n```python\n>>> 1 + 1\n3\n```\n\n## Two\n\n```python\nassert 1 + 1 == 3\n```\n"
    (one, [(line1, _, src1, _)]), (two, [(line2, _, src2, _)]) = sections(text)
    with pytest.raises(AssertionError, match="docs/guide.md:4"):
        run_block(line1, src1, {})
    with pytest.raises(AssertionError):
        run_block(line2, src2, {})


def test_the_guide_is_linked_from_the_readme():
    assert "docs/guide.md" in (GUIDE.parent.parent / "README.md").read_text()


# ------------------------------------------------- docs that cite only the repository

ROOT = GUIDE.parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_relative_links_in_the_docs_point_into_the_repository():
    """Every relative link in README.md and docs/*.md names a file that exists, and a
    ``#anchor`` names a heading of that file."""
    broken = []
    for doc in DOC_FILES:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if re.match(r"[a-z]+:", target):          # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            if not file.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and file.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", file.read_text(), re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{doc.name}: {target} (no such heading)")
    assert not broken, broken


def test_docs_and_docstrings_cite_nothing_outside_the_repository():
    """No "the lessons" or "Code Lab" in the package, the docs or the examples: a reader has no
    lessons to look at (their worked examples live in tests/test_lessons.py)."""
    files = [*DOC_FILES, *(p for d in ("core", "backends", "plugins", "examples")
                           for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".md"))]
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in files
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"\bthe lessons\b|\blessons'|code lab", line, re.I)]
    assert not hits, hits


# ---------------------------------------------- the table's habits fail loudly, not silently

@pytest.mark.parametrize("shape", [(1,), (3,), (2, 2)])
@pytest.mark.parametrize("transform", ["jvp", "hvp"])
def test_jvp_and_hvp_take_tuples_not_a_bare_tensor(transform, shape, backend):
    """``cr.jvp(f, x, t)`` (no tuples) used to iterate x along its first axis: for shape (1,)
    it silently returned values of shape (); for others it failed far from the cause. Every
    bare tensor, in either position, is a TypeError naming the fix; lists work as tuples
    (as in JAX), and the tuple spelling gives torch.func's answer."""
    import torch
    x = cr.tensor(np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape))
    t = cr.ones_like(x)
    f = lambda x: cr.sum(cr.sin(x) * x)
    call = getattr(cr, transform)
    for primals, tangents in ((x, (t,)), ((x,), t), (x, t)):
        with pytest.raises(TypeError, match=rf"cr\.{transform}\(f, \(x,\), \(t,\)\)"):
            call(f, primals, tangents)
    value, out = call(f, [x], [t])
    tf = lambda x: torch.sum(torch.sin(x) * x)
    tx, tt = torch.tensor(x.numpy()), torch.tensor(t.numpy())
    expected = (torch.func.jvp(tf, (tx,), (tt,))[1] if transform == "jvp" else
                torch.func.jvp(torch.func.grad(tf), (tx,), (tt,))[1])
    assert out.shape == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-10)
