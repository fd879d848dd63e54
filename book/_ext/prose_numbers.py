"""Lint the book's prose for numbers that are not glued from a computed result.

    python book/_ext/prose_numbers.py [FILES...]   # default: notebooks/*.md and book/*.md

Every number a reader sees in a chapter must come from a study's ``numbers(result)`` through a
``{glue:text}`` role, or sit in math, code, a citation or a label, or be listed in the allow-list
``book/prose-numbers-allowed.txt`` (one ``<file>:<phrase> | <reason>`` per line, matched by
phrase; an entry that excuses nothing is stale, an entry without a reason is an error). The book
pages are linted too: a reader cannot tell a page from a chapter. Exit status 1 on any finding.

What is not prose (blanked before the search, offsets kept): YAML front matter; the bodies of
code-cell, eval-rst, math, bibliography and other code fences (a fence without a directive is
code); directive arguments that are names (glue:figure, solution-start, ...); directive option
lines (``:label: x``); ``(target)=`` lines, ``%`` comments, jupytext ``+++`` markers, HTML.
Within prose: inline code and every role (``{cite}`x```, ``{glue:text}`x``` ...), ``$..$`` and
``$$..$$`` math, link URLs, labels (``fig-foo-2``), identifiers with digits (``float64``,
``Conv1d``, ``CIFAR-10``, ``2D``), version strings (``0.6.5``) and the reference numbering of
``REFERENCE``: a word of ``REFERENCE_WORDS`` (Theorem, Figure, Section, Eq., Exercise, Dataset,
step, ...) or ``§`` followed by numbers (``2``, ``6.1.2``, ``(10)``, ``S1``, ``4 and 5``).

What remains is a violation when it is
* digits: integers, decimals, percentages, scientific notation, ``10^4``, ``3 x 3``, ranges
  (``0.0125 to 0.8``);
* a quantity word: ``hundred``/``thousand``/``million``/``dozen(s)``/``percent``/``twice``
  (not "twice differentiable")/``tenfold`` anywhere; ``half`` before of/as/the or after a
  comparison word; a cardinal ``two`` .. ``ninety`` followed within two words by a unit word
  (``UNITS``: seeds, steps, layers, points ...) unless it refers back to a known set (after
  ``DETERMINERS`` or a possessive: "the two classes", "the chapter's four points"), or
  directly followed by a measuring unit (``STRONG_UNITS``: digits, percent, times, minutes,
  thirds, orders of magnitude), or preceded by a comparison word (``COMPARISONS``: about,
  within, roughly, than, at least, by ...); a hyphenated cardinal names a kind ("a two-layer
  network") and passes. ``one``/``a``/``an``/``a few``/``several`` count only before a
  measuring unit ("a few seconds", "an order of magnitude"), so "one figure", "one of the
  inputs" and "a few lines" pass;
* a measured value dressed as math: an approximation word before math that is only a number
  (``about $10^{-14}$``; ``APPROXIMATE_MATH``);
* an unglued paper-scale claim: in a clause (ended by . ; : ! ? or a blank line) that names the
  paper preset/scale/sizes (``PAPER``, "`paper` preset" included), a claim verb after that
  name (``CLAIMS``: shows, reaches, gives, agrees, measures, leaves ...) with no glue role
  between it and the next claim verb or the clause's end: "the paper preset
  ({glue:text}`n` points) shows the same contrast" is one, "the paper preset reaches
  {glue:text}`acc`" is not.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOW_LIST = ROOT / "book" / "prose-numbers-allowed.txt"

CODE_DIRECTIVES = {"code-cell", "code-block", "code", "sourcecode", "eval-rst", "math", "raw",
                   "bibliography", "toctree", "literalinclude", "include", "mermaid", "glue"}
NAME_ARGUMENT = {"glue:figure", "glue:math", "solution-start", "solution-end", "solution",
                 "figure", "image", "tableofcontents"}
REFERENCE_WORDS = (r"theorems?|thms?\.?|lemmas?|propositions?|props?\.?|corollar(?:y|ies)|"
                   r"definitions?|defs?\.?|remarks?|figures?|figs?\.?|tables?|sections?|secs?\.?|"
                   r"chapters?|appendix|appendices|equations?|eqs?\.?|exercises?|datasets?|"
                   r"algorithms?|steps?|lines?|parts?|lectures?|examples?|assumptions?|cases?|"
                   r"class")
REF_NUMBER = r"\(?(?:[A-Z]{1,4}\.?)?\d+(?:\.\d+)*[a-z]?\)?"
REFERENCE = re.compile(rf"(?:\b(?i:{REFERENCE_WORDS})\s*|§\s*){REF_NUMBER}"
                       rf"(?:\s*(?:,|and|or|to|–|-|/)\s*{REF_NUMBER})*|\bS\d+\b")
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
MASKS = [  # (pattern, flags): spans blanked inside prose, in this order
    (r"<!--.*?-->", re.S),
    (r"(\{[\w:.-]+\})?(`+)(?:(?!\n\s*\n).)+?\2", re.S),  # roles and inline code
    (r"\$\$.*?\$\$(?:\s*\([\w:.-]+\))?", re.S),  # display math and its label
    (r"(?<![\\$])\$(?:[^$\\\n]|\\.|\n(?!\s*\n))+?\$", 0),  # inline math
    (r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)|\]\[[^\]]*\]|<https?://[^>]+>|https?://\S+", 0),
    (r"</?[a-zA-Z][^>\n]*>", 0),
    (r"\b(?:fig|eq|thm|def|ex|sec|tab|lem|prop|cor|rem|alg|sol)-[\w-]+", 0),
    (REFERENCE.pattern, 0),
    (r"\b\d+(?:\.\d+){2,}\b|\b\d+\.x\b", 0),  # version strings
    (rf"\b(?:{MONTHS})\s+(?:19|20)\d\d\b", 0),  # dates and years: "In 2020 Domingos"
    (r"\b(?:[Ii]n|[Ss]ince|[Uu]ntil)\s+(?:19|20)\d\d\b(?!\s+[a-z])", 0),
    (r"\b\d+(?:st|nd|rd|th)-order\b", 0),  # a method's name: "8th-order Runge-Kutta"
    (r"\b[48][- ](?:connected|connectivity|neighbou?r(?:s|hood)?)\b", 0),  # digital topology
    (r"\b[A-Za-zℓ_]\w*\d\w*|\b[A-Z]{2,}-\d+\b|\b\d[dD]\b", 0),  # float64, CIFAR-10, 2D
]
NUMBER = (r"[~≈]?(?:(?<![\w)-])[-−])?\d(?:[\d,]*\d)?(?:\.\d+)?"  # sign, 1,797, decimals
          r"(?:[eE][-−+]?\d+)?(?:\^\{?-?\d+\}?)?")  # 1e-3, 10^4
DIGITS = re.compile(rf"{NUMBER}(?:\s*(?:×|x)\s*(?:10\^\{{?-?\d+\}}?|\d+\b))?"
                    rf"(?:\s*(?:–|—|-|to)\s*{NUMBER})?(?:\s*%|x\b|×)?")
CARDINALS = set("""zero two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety""".split())
VAGUE = {"few", "several", "couple"}  # "a few", "several": only before ALWAYS or STRONG_UNITS
ALWAYS = {w + s for w in "hundred thousand million billion dozen".split() for s in ("", "s")} | set(
    "percent percentage twice thrice twofold threefold fourfold fivefold tenfold".split())
STRONG_UNITS = {w + s for s in ("", "s") for w in """digit decimal significant order percent
    percentage time fold second minute hour day third quarter gb mb gib byte""".split()} - {"time"}
UNITS = STRONG_UNITS | {w + s for s in ("", "s") for w in """seed run step epoch iteration sample
    example point input querie query layer neuron unit pixel image classe class trial repetition
    parameter feature node worker core gpu cpu thread batche batch width dimension shape peak
    rate""".split()}
DETERMINERS = {"the", "these", "those", "its", "their", "our", "each", "every"}  # anaphora
COMPARISONS = {"about", "around", "roughly", "nearly", "almost", "approximately", "within", "over",
               "under", "than", "least", "most", "below", "above", "exceeds", "exceed", "by"}
PAPER = re.compile(r"\bpaper`?(?:'s)?[\s-]+(?:presets?|scale|sizes?|runs?|configuration)\b", re.I)
CLAIMS = re.compile(r"\b(?:show(?:s|ed|n)?|reach(?:es|ed)?|give[sn]?|gave|agree[sd]?|measures?|"
                    r"measured|gets?|got|achieve[sd]?|attain(?:s|ed)?|yield(?:s|ed)?|"
                    r"match(?:es|ed)?|scores?|scored|classif(?:y|ies|ied)|separate[sd]?|"
                    r"converge[sd]?|obtain(?:s|ed)?|finds?|found|reproduce[sd]?|"
                    r"confirm(?:s|ed)?|recover(?:s|ed)?|remain(?:s|ed)?|stay(?:s|ed)?|"
                    r"improve[sd]?|drop(?:s|ped)?|grow(?:s|n)?|fall(?:s|en)?|leaves?)\b", re.I)
GLUE = re.compile(r"\{glue(?::\w+)?\}`")
NUMERIC = r"(?:[-−+\d.,\s{}^%]|\\(?:times|cdot|,|%))*"  # math made of a number only
APPROXIMATE_MATH = re.compile(
    rf"\b(?:about|roughly|approximately|nearly|almost|around)\s+\${NUMERIC}\d{NUMERIC}\$", re.I)
CLAUSE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bcf)(?<!\bvs)(?<!\bal)[.!?:;](?=\s|$)"
                        r"|\n[ \t]*\n")


@dataclass(frozen=True)
class Violation:
    """An unglued number: `file`, 1-based `line`, the `phrase`, `why`, offsets in the file."""

    file: str
    line: int
    phrase: str
    why: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: '{self.phrase}' — {self.why}"


@dataclass(frozen=True)
class Entry:
    """One allow-list line: `phrase` of `file` is allowed because of `reason`."""

    file: str
    phrase: str
    reason: str
    line: int


def _blank(text: str) -> str:
    return re.sub(r"[^\n]", " ", text)


def prose(text: str) -> str:
    """`text` with everything that is not prose blanked (same length, newlines kept)."""
    lines = text.split("\n")
    out = []
    stack: list[tuple[str, int, bool]] = []  # open fences: (char, length, body is code)
    options = front = False
    for number, line in enumerate(lines):
        if number == 0 and line.strip() == "---":
            front = True
        if front:
            out.append(_blank(line))
            front = not (number > 0 and line.strip() == "---")
            continue
        fence = re.match(r"^\s*(`{3,}|~{3,}|:{3,})\s*(?:\{([\w:.-]+)\})?\s*(.*)$", line)
        if stack and fence and fence[1][0] == stack[-1][0] and len(fence[1]) >= stack[-1][1] \
                and not fence[2] and not fence[3].strip():
            stack.pop()
            out.append(_blank(line))
            continue
        if stack and stack[-1][2]:
            out.append(_blank(line))
            continue
        if fence:
            name = fence[2] or ""
            code = name in CODE_DIRECTIVES or (not name and fence[1][0] != ":")
            stack.append((fence[1][0], len(fence[1]), code))
            options = not code
            keep = not code and name not in NAME_ARGUMENT and fence[3].strip()
            title = _blank(line[: fence.start(3)]) + line[fence.start(3):]  # a directive's title
            out.append(title if keep else _blank(line))
            continue
        if options and re.match(r"^\s*:[\w-]+:", line):
            out.append(_blank(line))
            continue
        options = False
        skip = re.match(r"^\s*(?:\([\w:.-]+\)=\s*$|%|\+\+\+)", line)
        marker = re.match(r"^\s*\d+[.)](?=\s)", line)  # a numbered list's marker
        if marker:
            line = _blank(marker[0]) + line[marker.end():]
        out.append(_blank(line) if skip else line)
    return "\n".join(out)


def masked(text: str) -> str:
    """`prose(text)` with math, code, roles, links, labels and references blanked."""
    result = prose(text)
    for pattern, flags in MASKS:
        result = re.sub(pattern, lambda m: _blank(m[0]), result, flags=flags)
    return result


def _word_violations(clean: str) -> list[tuple[int, int, str]]:
    words = [(m.start(), m.end(), m[0].lower()) for m in re.finditer(r"[A-Za-z]+(?:'s)?", clean)]
    found = []
    for i, (start, end, word) in enumerate(words):
        before = [w for _, _, w in words[max(0, i - 2): i]]
        after = [w for _, _, w in words[i + 1: i + 3]]
        compound = clean[end: end + 1] == "-"  # "two-layer", "ten-class": a name, not a count
        compared = before[-1:] and before[-1] in COMPARISONS or before[-2:] == ["factor", "of"]
        anaphora = before[-1:] and (before[-1] in DETERMINERS or before[-1].endswith("'s") or (
            before[-1] in {"first", "last", "next", "other"} and before[0] in DETERMINERS))
        magnitude = re.match(r"\s+of\s+magnitude\b", clean[words[i + 1][1]:]) if after else None
        strong = after[:1] and after[0] in STRONG_UNITS | ALWAYS and (
            after[0] not in {"order", "orders"} or magnitude)
        if word in ALWAYS and not (word == "twice" and "differentiable" in after):
            why = "a quantity word"
        elif word == "half" and (compared or after[:1] and after[0] in {"of", "as", "the"}):
            why = "a quantity word"
        elif word in CARDINALS and not compound and (
                compared or strong or not anaphora and set(after) & UNITS):
            why = "a number word next to a unit or a comparison"
        elif word in VAGUE | {"one", "a", "an"} and strong and after[0] != "second":
            why = "a measured quantity"
        else:
            continue
        first = i - (1 if compared or before[-1:] in (["a"], ["few"], ["several"]) else 0)
        last = i + next((k + 1 for k, w in enumerate(after) if w in UNITS | ALWAYS), 0)
        found.append((words[max(first, 0)][0], words[min(last, len(words) - 1)][1], why))
    return found


def _paper_claims(original: str, text: str, clean: str) -> list[tuple[int, int, str]]:
    """Claim verbs after a mention of the paper scale, each with no glue role before the next
    claim verb or the clause's end. The finding is the verb and up to four words after it."""
    found, start = [], 0
    for end in [m.end() for m in CLAUSE_END.finditer(clean)] + [len(clean)]:
        paper = PAPER.search(text, start, end)  # in prose, inline code kept: "`paper` preset"
        claims = list(CLAIMS.finditer(clean, paper.end(), end)) if paper else []
        for claim, following in zip(claims, [c.start() for c in claims[1:]] + [end]):
            if not GLUE.search(original, claim.end(), following):
                phrase = re.match(r"\w+(?:[ \t\n]+[\w']+){0,4}", clean[claim.start(): following])
                found.append((claim.start(), claim.start() + phrase.end(),
                              f"an unglued claim about the {' '.join(paper[0].split())}"))
        start = end
    return found


def lint(name: str, text: str) -> list[Violation]:
    """The violations of MyST `text` (reported under `name`), in order of position."""
    clean = masked(text)
    spans = [(m.start(), m.end(), "digits in prose") for m in DIGITS.finditer(clean)]
    for block in re.finditer(r"(?:[^\n]*\S[^\n]*(?:\n|$))+", clean):
        offset = block.start()
        spans += [(offset + a, offset + b, why) for a, b, why in _word_violations(block[0])]
    spans += _paper_claims(text, prose(text), clean)
    spans += [(m.start(), m.end(), "an approximate value written as math")
              for m in APPROXIMATE_MATH.finditer(prose(text))]
    merged: list[list] = []
    for start, end, why in sorted(spans):  # overlapping or touching findings are one phrase
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, why])
    return [Violation(name, text.count("\n", 0, start) + 1, " ".join(text[start:end].split()),
                      why, start, end)
            for start, end, why in merged]


def read_allow_list(text: str) -> tuple[list[Entry], list[str]]:
    """The entries of an allow-list and its errors (lines without a file, phrase or reason)."""
    entries, errors = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        body, _, reason = line.rpartition(" | ") if " | " in line else (line, "", "")
        file, colon, phrase = body.partition(":")
        if not (colon and file.strip() and phrase.strip() and reason.strip()):
            errors.append(f"allow-list:{number}: '{line.strip()}' — "
                          "needs '<file>:<phrase> | <reason>'")
            continue
        entries.append(Entry(file.strip(), phrase.strip(), reason.strip(), number))
    return entries, errors


def check(texts: dict[str, str], entries: list[Entry]) -> tuple[list[Violation], list[str]]:
    """Lint every text of `texts` (name -> MyST) and excuse what `entries` allow. Returns the
    remaining violations and the stale entries (of linted files) that excuse nothing."""
    violations = [v for name, text in texts.items() for v in lint(name, text)]
    used: set[Entry] = set()
    remaining = []
    for violation in violations:
        text = texts[violation.file]
        excused = [e for e in entries if e.file == violation.file and any(
            m.start() <= violation.start and violation.end <= m.end()
            for m in re.finditer(r"\s+".join(map(re.escape, e.phrase.split())), text))]
        used.update(excused)
        if not excused:
            remaining.append(violation)
    stale = [f"allow-list:{e.line}: '{e.file}:{e.phrase}' — stale entry, "
             + ("the phrase is not in the file" if re.sub(r"\s+", " ", e.phrase)
                not in re.sub(r"\s+", " ", texts[e.file]) else "it excuses no violation")
             for e in entries if e.file in texts and e not in used]
    return remaining, stale


def main(argv: list[str] | None = None) -> int:
    """Lint FILES (default: the chapters and book pages) against the allow-list; print findings."""
    args = sys.argv[1:] if argv is None else argv
    files = [Path(a).resolve() for a in args] or sorted(
        [*ROOT.glob("notebooks/*.md"), *ROOT.glob("book/*.md")])
    texts = {str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p): p.read_text()
             for p in files}
    entries, errors = read_allow_list(ALLOW_LIST.read_text() if ALLOW_LIST.exists() else "")
    unknown = [f"allow-list:{e.line}: '{e.file}' — no such file" for e in entries
               if not (ROOT / e.file).is_file()]
    violations, stale = check(texts, entries)
    for finding in [*map(str, violations), *errors, *unknown, *stale]:
        print(finding)
    if violations:
        print("fix: glue each number from the study's numbers(result), put it in math, or "
              "allow-list it with a reason")
    print(f"allow-list: {len(entries)} entries ({ALLOW_LIST.relative_to(ROOT)}); "
          f"{len(violations)} violations in {len(texts)} files")
    return 1 if violations or errors or unknown or stale else 0


if __name__ == "__main__":
    sys.exit(main())
