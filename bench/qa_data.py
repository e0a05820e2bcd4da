"""A question-answering set over real prose that is on every machine: the docstrings of Python's stdlib.

Passages: docstrings of public modules, classes, functions and methods of the standard library (each at
least MIN_CHARS long, exact duplicates dropped), cleaned of indentation. Each passage is one document.

Two kinds of questions, each knowing its answering passage:
- "summary": a docstring's first line ("Return the number of items ...") asks for the passage that is the
  REST of that docstring (the first line is cut from the indexed passage). The words differ naturally:
  the summary says what a thing does, the body explains how, often in other words.
- "cloze": a sentence of the passage (10+ words) with about half of its words dropped at random (seeded),
  as a person half-remembering a phrase would type it.
Both are deterministic for a given Python version (seeded sampling over sorted names).
"""

import importlib
import importlib.util
import inspect
import pkgutil
import random
import re
import sys
import warnings
from dataclasses import dataclass

MIN_CHARS = 150
MAX_CHARS = 1500  # longer docstrings (module overviews) are cut into paragraph groups, each its own passage
SKIP = ("test", "idlelib", "tkinter", "turtle", "turtledemo", "antigravity", "this", "lib2to3", "ensurepip",
        "venv", "pydoc_data", "__phello__", "_")


@dataclass(frozen=True)
class Passage:
    key: str  # qualified name, unique
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    text: str
    passage_key: str
    kind: str


def _module_names() -> list[str]:
    """Top-level stdlib modules and the public submodules of stdlib packages (email.message, asyncio.tasks ...)."""
    names = []
    for name in sorted(sys.stdlib_module_names):
        if name.startswith(SKIP):
            continue
        names.append(name)
        spec = importlib.util.find_spec(name)
        if spec and spec.submodule_search_locations:
            names += sorted(f"{name}.{m.name}" for m in pkgutil.iter_modules(spec.submodule_search_locations)
                            if not m.name.startswith(("_", "test")) and m.name != "__main__")
    return names


def _docstrings():
    warnings.simplefilter("ignore")
    for name in _module_names():
        try:
            module = importlib.import_module(name)
        except BaseException:  # platform-specific modules, optional C extensions, modules that exit
            continue
        yield name, inspect.getdoc(module)
        for attr, obj in sorted(vars(module).items()):
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
                yield f"{name}.{attr}", inspect.getdoc(obj)
            if inspect.isclass(obj):
                for method, member in sorted(vars(obj).items()):
                    if not method.startswith("_") and callable(member):
                        yield f"{name}.{attr}.{method}", inspect.getdoc(member)


def build(max_passages: int = 2000, max_questions: int = 600, seed: int = 7) -> tuple[list[Passage], list[Question]]:
    rng = random.Random(seed)
    passages: list[Passage] = []
    summaries: dict[str, str] = {}
    seen: set[str] = set()
    for key, doc in _docstrings():
        if not doc:
            continue
        first, _, rest = doc.strip().partition("\n")
        body = rest.strip()
        if len(body) < MIN_CHARS or body in seen or not _is_summary(first):
            continue
        seen.add(body)
        for part, text in enumerate(_paragraph_groups(body)):
            part_key = key if part == 0 else f"{key}#{part}"
            passages.append(Passage(key=part_key, title=part_key, text=text))
        summaries[key] = first.strip()
    rng.shuffle(passages)
    passages = sorted(passages[:max_passages], key=lambda p: p.key)
    questions: list[Question] = []
    firsts = [p for p in passages if p.key in summaries]  # the first part of a docstring follows its summary
    for passage in rng.sample(firsts, min(len(firsts), max_questions // 2)):
        questions.append(Question(summaries[passage.key], passage.key, "summary"))
    for passage in rng.sample(passages, min(len(passages), max_questions // 2)):
        sentence = _a_sentence(passage.text, rng)
        if sentence:
            questions.append(Question(sentence, passage.key, "cloze"))
    return passages, questions


_SIGNATURE = re.compile(r"^[\w.]+\(.*\)")


def _is_summary(line: str) -> bool:
    """A prose first line ("Return the ..."), not a signature ("f(x, y) -> int") or a heading."""
    words = re.findall(r"[A-Za-z]{2,}", line)
    return len(words) >= 4 and not _SIGNATURE.match(line.strip()) and not line.rstrip().endswith(":")


def _paragraph_groups(text: str) -> list[str]:
    groups, current = [], ""
    for paragraph in re.split(r"\n\s*\n", text):
        if current and len(current) + len(paragraph) > MAX_CHARS:
            groups.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
    if current:
        groups.append(current)
    return [g for g in groups if len(g) >= MIN_CHARS] or [text]


def _a_sentence(text: str, rng: random.Random) -> str | None:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text) if len(s.split()) >= 10]
    if not sentences:
        return None
    words = rng.choice(sentences).split()
    kept = sorted(rng.sample(range(len(words)), max(5, len(words) // 2)))
    return " ".join(words[i] for i in kept).lower()
