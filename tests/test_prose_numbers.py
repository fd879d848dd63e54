"""The prose-number linter (book/_ext/prose_numbers.py) on synthetic MyST, then on the book."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import prose_numbers as pn  # noqa: E402  (book/_ext is not a package)

FRONT = "---\njupytext:\n  text_representation:\n    format_version: 0.13\n---\n\n"


def phrases(text: str) -> list[str]:
    return [v.phrase for v in pn.lint("t.md", text)]


def test_a_bare_number_is_found_so_the_skip_tests_below_are_not_vacuous():
    assert phrases("The network has 3 layers.") == ["3"]
    assert phrases(FRONT + "It ran 12 steps.\n") == ["12"]


SKIPPED = {
    "front matter": FRONT + "No numbers here.\n",
    "code cell": "Text.\n\n```{code-cell} ipython3\n:tags: [remove-cell]\nx = 5 * 1e-3\n```\n",
    "plain code fence": "```python\nlr = 0.0125\n```\n\n```bash\npython -m x --seeds 0-9\n```\n",
    "math directive": "```{math}\n:label: eq-x\nx = 2^{10}\n```\n",
    "directive options": "```{prf:theorem} A title\n:label: thm-x-3\n:class: dropdown\n\nAll fine.\n```\n",
    "figure name and options": "```{glue:figure} fig-x-2\n:name: fig-x-2\n\nA caption.\n```\n",
    "inline math": "The rate $\\eta = 0.1$ and $n = 200$ points, $x \\in [0, 1]$.\n",
    "math constants": "Label $-1$ in the disk of radius $r < 1$, eigenvalues above $10^{-10}$.\n",
    "inline math across a line break": "The rate $\\eta =\n0.1$ here.\n",
    "display math and its label": "See\n\n$$\nx = 3 + 10^{-4}\n$$ (eq-x-2)\n\nabove.\n",
    "inline code": "Call `train(lr=0.5, steps=600)` or ``f(`x`, 2)``.\n",
    "roles": ("Glued {glue:text}`x-acc-2` of {glue:text}`x-n`, after {cite}`smith2020`, "
              "{prf:ref}`thm-x-1`, {ref}`sec-2`, {numref}`fig-x-3`, {eq}`eq-x-4`, {doc}`ch2`.\n"),
    "link URL": "See [the data](https://example.org/v2/3.csv) and <https://x.org/2020>.\n",
    "labels and targets": "(sec-4)=\n## Head\n\nAs in fig-x-peaks-2 and eq-x-10.\n",
    "reference numbering": ("Theorem 2, Thm 3, Figure 8, §4.1, Section 6.1.2, Eq. (10), Table 1, S1, "
                            "Proposition 3, Dataset 1, Exercise 2, Figures 3 and 4, Steps 4 and 5, "
                            "Fig. 11, §I.7 and Theorem 2/3.\n"),
    "identifiers, dimensions, versions": ("float64 and Conv1d, a 2D input, CIFAR-10, L2, "
                                          "neural-tangents 0.6.5, Jupyter Book 1.x.\n"),
    "a year": "In 2020 Domingos proved it; in December 2026 we measured.\n",
    "connectivity names and method orders": "The 8 neighbours, 4-connected regions, the 8th-order method.\n",
    "numbered list markers": "1. first\n2. second\n10) tenth\n",
    "comments and jupytext markers": "<!-- 3 seeds -->\n% 5 digits\n+++ {\"n\": 3}\nText.\n",
    "number words that are not quantities": (
        "One figure shows one of the inputs; the two classes and the three query points; a "
        "two-layer network; twice differentiable; an order that changes; a few lines; several "
        "widths; the first two pixels; the chapter's four points; one at a time.\n"),
    "glued numbers": ("It classifies {glue:text}`a-acc` of its {glue:text}`a-n` inputs in "
                      "{glue:text}`a-seconds` s at learning rates {glue:text}`a-lr-min` to "
                      "{glue:text}`a-lr-max`.\n"),
    "paper-scale claim whose result is glued": (
        "The paper preset ({glue:text}`a-paper-n` points) reaches {glue:text}`a-paper-acc`.\n"),
    "paper-scale sentence without a claim": "The paper scale has $n =$ {glue:text}`a-n` points.\n",
}


@pytest.mark.parametrize("text", SKIPPED.values(), ids=SKIPPED.keys())
def test_what_is_not_prose_or_is_glued_is_skipped(text):
    assert phrases(text) == []


def test_prose_inside_directives_and_captions_is_linted():
    text = "```{prf:remark} Theorem 1 holds\n:label: rem-x\n\nIt needs 3 steps.\n```\n"
    assert phrases(text) == ["3"]
    caption = "```{glue:figure} fig-x-a\n:name: fig-x-a\n\n**fig-x-a** with 4 panels.\n```\n"
    assert phrases(caption) == ["4"]


THE_ISSUE = {  # issue 20's examples, each in a sentence like the chapter's
    "gradient_flow": ("The two columns agree to about five digits, the accuracy of a forward "
                      "difference.", "about five digits"),
    "ball_sphere": ("With the `paper` preset ({glue:text}`b-n` points) we measured the boundary "
                    "on the midway circle to within a percent of its radius.", "within a percent"),
    "two_peaks": ("The paper preset ($n'$ = {glue:text}`t-n`, {glue:text}`t-steps` steps)\nshows "
                  "the same contrast, and the order reverses.", "shows the same contrast"),
    "kernel_evolution": ("The training set has {glue:text}`k-n` points, and with a few hundred "
                         "more both SVMs reach 100% on both tasks.", "a few hundred"),
    "learning rates": ("We sweep the learning rates (0.0125 to 0.8) at width 100.", "0.0125 to 0.8"),
}


@pytest.mark.parametrize("text, phrase", THE_ISSUE.values(), ids=THE_ISSUE.keys())
def test_the_examples_of_the_issue_are_caught(text, phrase):
    assert phrase in phrases(text)


CAUGHT = {
    "integer": ("trained for 600 steps", "600"),
    "thousands separator": ("on 10,000 images", "10,000"),
    "percentage": ("an IoU of 99.80% here", "99.80%"),
    "scientific notation": ("a tolerance of 1e-12 here", "1e-12"),
    "power of ten outside math": ("C of 10^4 here", "10^4"),
    "times ten to the": ("an error of 3 × 10^-4 here", "3 × 10^-4"),
    "speed-up": ("it is 5.3x faster", "5.3x"),
    "dimensions": ("a 3 x 3 convolution", "3 x 3"),
    "negative number": ("from −1 to 1 by design", "−1 to 1"),
    "number word and unit": ("we ran three seeds", "three seeds"),
    "number word, adjective, unit": ("we ran three random seeds", "three random seeds"),
    "comparison and number word": ("at least ten of them", "least ten"),
    "twice": ("it is twice as fast", "twice"),
    "half of": ("half of the queries", "half"),
    "dozens": ("dozens of runs", "dozens of runs"),
    "a percent": ("off by a percent", "by a percent"),
    "an order of magnitude": ("an order of magnitude faster", "an order"),
    "a factor of two": ("by a factor of two", "of two"),
    "a timing": ("it runs in under a minute", "under a minute"),
    "two thirds": ("about two thirds of it", "about two thirds"),
    "paper scale claim": ("at the paper scale the largest ones reach the edge of stability.",
                          "reach the edge of stability"),
    "second claim of a sentence, unglued": (
        "The paper preset reaches {glue:text}`p-acc` and matches the quick one.", "matches the quick one"),
    "claim after a glued claim": ("The paper scale reaches {glue:text}`p-acc` and converges twice "
                                  "as fast.", "converges twice as fast"),
    "an approximate value in math": ("the columns agree to about $10^{-5}$ here", "about $10^{-5}$"),
    "paper's sizes": ("The paper's sizes give the same picture.", "give the same picture"),
}


@pytest.mark.parametrize("text, phrase", CAUGHT.values(), ids=CAUGHT.keys())
def test_numbers_and_quantity_words_are_caught(text, phrase):
    found = phrases(text)
    assert found and (phrase is None or phrase in found), found


def test_a_violation_reports_its_line_and_reason():
    text = FRONT + "```{code-cell} ipython3\nx = 1\n```\n\nFirst line,\nthen 42 steps.\n"
    [violation] = pn.lint("notebooks/x.md", text)
    assert violation.line == text.splitlines().index("then 42 steps.") + 1
    assert str(violation) == "notebooks/x.md:12: '42' — digits in prose"


CHAPTER = "A model trained for 600 steps on\n3 layers agrees to about five digits.\n"


def test_the_allow_list_excuses_a_phrase_across_line_breaks_and_nothing_else():
    entries, errors = pn.read_allow_list("a.md:600 steps on 3 layers | the exercise's constants\n")
    assert errors == []
    remaining, stale = pn.check({"a.md": CHAPTER, "b.md": CHAPTER}, entries)
    assert [(v.file, v.phrase) for v in remaining] == [
        ("a.md", "about five digits"), ("b.md", "600"), ("b.md", "3"), ("b.md", "about five digits")]
    assert stale == []


def test_an_entry_that_excuses_nothing_is_stale():
    text = ("# comment\n\na.md:about five digits | x\na.md:never written | y\n"
            "a.md:A model trained | z\nc.md:600 | a file not linted here is not checked\n")
    entries, errors = pn.read_allow_list(text)
    assert errors == [] and len(entries) == 4
    remaining, stale = pn.check({"a.md": CHAPTER}, entries)
    assert [v.phrase for v in remaining] == ["600", "3"]
    assert stale == ["allow-list:4: 'a.md:never written' — stale entry, the phrase is not in the file",
                     "allow-list:5: 'a.md:A model trained' — stale entry, it excuses no violation"]


@pytest.mark.parametrize("line", ["a.md:600 steps", "a.md:600 steps | ", "a.md: | reason",
                                  ":600 steps | reason", "600 steps | reason"])
def test_an_entry_without_file_phrase_or_reason_is_an_error(line):
    entries, errors = pn.read_allow_list(line + "\n")
    assert entries == []
    assert errors == [f"allow-list:1: '{line.strip()}' — needs '<file>:<phrase> | <reason>'"]


def test_the_command_prints_findings_and_the_allow_list_length(tmp_path, capsys):
    chapter = tmp_path / "chapter.md"
    chapter.write_text(FRONT + "It takes 3 seeds.\n")
    assert pn.main([str(chapter)]) == 1
    out = capsys.readouterr().out
    assert f"{chapter}:7: '3' — digits in prose" in out
    entries, _ = pn.read_allow_list(pn.ALLOW_LIST.read_text())
    assert f"allow-list: {len(entries)} entries" in out.splitlines()[-1]
    chapter.write_text("It takes {glue:text}`x-seeds` seeds.\n")
    assert pn.main([str(chapter)]) == 0


def test_chapters_have_no_unglued_numbers():
    files = sorted([*ROOT.glob("notebooks/*.md"), *ROOT.glob("book/*.md")])
    texts = {str(p.relative_to(ROOT)): p.read_text() for p in files}
    entries, errors = pn.read_allow_list(pn.ALLOW_LIST.read_text())
    violations, stale = pn.check(texts, entries)
    findings = [*map(str, violations), *errors, *stale]
    print(f"\nprose-number allow-list: {len(entries)} entries; {len(violations)} violations")
    assert not findings, (f"allow-list: {len(entries)} entries; {len(findings)} findings "
                          "(python book/_ext/prose_numbers.py):\n" + "\n".join(findings))
