"""AudioSet metadata: the ontology, source counts and the curriculum splits.

CAVL (supplement 6.1) counts the sound sources of an AudioSet clip by reducing
its labels to the third level of the ontology, so that "Violin, fiddle" and
"Cello" (both "Bowed string instrument") count as one source, then sorts the
clips into curriculum stages C1..C4 by that count.

The ontology file lists each class with its ``child_ids`` only: parents come
from inverting them. The level of a class is 1 + its shortest path from a root
(7 roots such as "Music" and "Animal"). The reduction of one clip's labels
(:func:`reduce_to_level3`):

* a level-3 label is kept;
* a label at level >= 4 maps to a level-3 ancestor. 38 classes have several
  parents and some deep ones several level-3 ancestors ("Growling" is under
  "Dog", "Cat", "Roaring cats" and "Canidae"). The rule: a level-3 ancestor
  that the clip already has (from its other labels) is preferred, so no
  source is counted twice; otherwise the ancestor with the smallest mid (plain
  string order). Labels with a single candidate are settled first, then the
  others in the order of their mids, each seeing the choices made before it;
* a level-1/2 label is dropped when it is an ancestor of another label of the
  clip ("Music" beside "Violin, fiddle"), and kept otherwise, so that a
  level-2 leaf such as "Silence" or a lone "Music" still counts as a source.

Because levels follow shortest paths, a level-3 label may also descend from
another level-3 class ("Hiss" is level 3 via "Onomatopoeia" but also a child
of "Cat"); both are kept, as the rule says.

Taught in: tutorials/05_counting.ipynb
"""

import collections
import csv
import dataclasses
import functools
import json
import types
from pathlib import Path
from typing import NamedTuple

from avcourse._validation import check_positive_int
from avcourse.data import sample_path

__all__ = [
    "Ontology",
    "Segment",
    "ancestors",
    "count_sources",
    "curriculum_splits",
    "load_ontology",
    "read_segments_csv",
    "reduce_to_level3",
]

_DOWNLOAD_HINT = (
    "AudioSet's segments CSVs and ontology.json are at "
    "https://research.google.com/audioset/download.html and https://github.com/audioset/ontology."
)


@dataclasses.dataclass(frozen=True)
class Ontology:
    """The AudioSet class hierarchy with parent links and levels.

    Attributes:
        names: mid -> display name.
        children: mid -> tuple of child mids, in the file's order.
        parents: mid -> tuple of parent mids (inverted ``child_ids``).
        levels: mid -> 1 + length of the shortest path from a root.
        roots: mids without a parent, in the file's order.
    """

    names: types.MappingProxyType
    children: types.MappingProxyType
    parents: types.MappingProxyType
    levels: types.MappingProxyType
    roots: tuple

    def __len__(self):
        return len(self.names)

    def __contains__(self, mid):
        return mid in self.names

    def mid(self, name):
        """The mid of the class whose display name is ``name`` (exact match).

        Args:
            name: display name, e.g. ``"Violin, fiddle"``.

        Returns:
            the mid, e.g. ``"/m/07y_7"``.

        Raises:
            KeyError: if no class has that name.
        """
        for mid, display_name in self.names.items():
            if display_name == name:
                return mid
        raise KeyError(f"no AudioSet class is named {name!r}.")


def _build_ontology(nodes, source):
    required = {"id", "name", "child_ids"}
    if not isinstance(nodes, list) or not all(isinstance(node, dict) and required <= set(node) for node in nodes):
        raise ValueError(
            f"{source} is not an AudioSet ontology: expected a JSON list of classes with "
            "'id', 'name' and 'child_ids'."
        )
    names = {node["id"]: node["name"] for node in nodes}
    children = {node["id"]: tuple(node["child_ids"]) for node in nodes}
    parents = collections.defaultdict(list)
    for mid, child_ids in children.items():
        for child in child_ids:
            if child not in names:
                raise ValueError(f"{source}: class {mid!r} lists an unknown child {child!r}.")
            parents[child].append(mid)
    roots = tuple(mid for mid in names if mid not in parents)
    levels = {mid: 1 for mid in roots}
    queue = collections.deque(roots)
    while queue:  # breadth-first, so the first visit is along a shortest path
        mid = queue.popleft()
        for child in children[mid]:
            if child not in levels:
                levels[child] = levels[mid] + 1
                queue.append(child)
    unreachable = sorted(set(names) - set(levels))
    if unreachable:
        raise ValueError(
            f"{source}: {len(unreachable)} class(es) are not reachable from a root, e.g. {unreachable[:5]}."
        )
    return Ontology(
        names=types.MappingProxyType(names),
        children=types.MappingProxyType(children),
        parents=types.MappingProxyType({mid: tuple(parents.get(mid, ())) for mid in names}),
        levels=types.MappingProxyType(levels),
        roots=roots,
    )


@functools.lru_cache(maxsize=1)
def _bundled_ontology():
    path = sample_path("metadata", "audioset", "ontology.json")
    return _build_ontology(json.loads(path.read_text(encoding="utf-8")), path)


def load_ontology(path=None):
    """Load the AudioSet ontology and derive parents and levels.

    Args:
        path: an ``ontology.json``; None loads the bundled copy (v1,
            2017-03-06, 632 classes), read once and shared.

    Returns:
        an :class:`Ontology`.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the file is not an AudioSet ontology.
    """
    if path is None:
        return _bundled_ontology()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AudioSet ontology {str(path)!r} does not exist. {_DOWNLOAD_HINT}")
    return _build_ontology(json.loads(path.read_text(encoding="utf-8")), path)


def _resolve(ontology):
    return load_ontology() if ontology is None else ontology


def _check_mids(mids, ontology):
    if isinstance(mids, str):
        raise ValueError(f"`mids` must be an iterable of mids, not one string; received {mids!r} (wrap it: [mid]).")
    mids = set(mids)
    unknown = sorted(mid for mid in mids if mid not in ontology)
    if unknown:
        raise ValueError(f"`mids` holds {len(unknown)} mid(s) not in the ontology: {unknown[:10]}.")
    return mids


def ancestors(mid, ontology=None):
    """All ancestors of a class through every parent link (not the class itself).

    Args:
        mid: an AudioSet mid, e.g. ``"/m/07y_7"``.
        ontology: an :class:`Ontology`; None uses the bundled one.

    Returns:
        tuple of mids sorted by (level, mid), roots first.

    Raises:
        ValueError: if ``mid`` is not in the ontology.
    """
    ontology = _resolve(ontology)
    if mid not in ontology:
        raise ValueError(f"`mid` must be a class of the ontology; received {mid!r}.")
    found = set()
    stack = list(ontology.parents[mid])
    while stack:
        parent = stack.pop()
        if parent not in found:
            found.add(parent)
            stack.extend(ontology.parents[parent])
    return tuple(sorted(found, key=lambda m: (ontology.levels[m], m)))


def _level3_candidates(mid, ontology):
    return sorted(m for m in ancestors(mid, ontology) if ontology.levels[m] == 3)


def reduce_to_level3(mids, ontology=None):
    """Reduce one clip's labels to its sound sources at the ontology's third level.

    The rules, with the multi-parent rule, are in the module docstring.

    Args:
        mids: iterable of AudioSet mids (one clip's labels).
        ontology: an :class:`Ontology`; None uses the bundled one.

    Returns:
        set of mids: level-3 classes, plus level-1/2 labels that are no
        ancestor of another label of the clip.

    Raises:
        ValueError: if ``mids`` is a single string or holds an unknown mid.
    """
    ontology = _resolve(ontology)
    labels = _check_mids(mids, ontology)
    kept = set()
    undecided = []
    for mid in sorted(labels):
        level = ontology.levels[mid]
        if level == 3:
            kept.add(mid)
        elif level >= 4:
            candidates = _level3_candidates(mid, ontology)
            if len(candidates) == 1:
                kept.add(candidates[0])
            else:
                undecided.append(candidates)
    for candidates in undecided:
        present = [candidate for candidate in candidates if candidate in kept]
        kept.add(present[0] if present else candidates[0])
    ancestors_of_labels = set()
    for mid in labels:
        ancestors_of_labels.update(ancestors(mid, ontology))
    kept.update(mid for mid in labels if ontology.levels[mid] <= 2 and mid not in ancestors_of_labels)
    return kept


def count_sources(mids, ontology=None):
    """Number of sound sources of a clip: ``len(reduce_to_level3(mids))``.

    Args:
        mids: iterable of AudioSet mids (one clip's labels).
        ontology: an :class:`Ontology`; None uses the bundled one.

    Returns:
        int >= 0.

    Raises:
        ValueError: if ``mids`` is a single string or holds an unknown mid.
    """
    return len(reduce_to_level3(mids, ontology))


class Segment(NamedTuple):
    """One row of an AudioSet segments CSV."""

    ytid: str
    start: float
    end: float
    labels: tuple


def read_segments_csv(path=None):
    """Read an official AudioSet segments CSV.

    The format: ``#`` comment lines (three in the release), then rows
    ``YTID, start_seconds, end_seconds, "mid1,mid2,..."`` separated by ", ".

    Args:
        path: e.g. ``balanced_train_segments.csv``; None reads the bundled
            head of the balanced training set (12 rows).

    Returns:
        list of :class:`Segment` in file order.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if a row is malformed (the message gives its line).
    """
    if path is None:
        path = sample_path("metadata", "audioset", "balanced_train_segments_head.csv")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"AudioSet segments CSV {str(path)!r} does not exist. {_DOWNLOAD_HINT}")
    segments = []
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.reader(file, skipinitialspace=True):
            if not row or row[0].startswith("#"):
                continue
            try:
                ytid, start, end, labels = row
                segment = Segment(ytid, float(start), float(end), tuple(m for m in labels.split(",") if m))
            except ValueError:
                raise ValueError(
                    f'{path}: malformed segment row {row!r}; expected YTID, start_seconds, end_seconds, "mid1,mid2".'
                ) from None
            if not segment.labels:
                raise ValueError(f"{path}: segment {segment.ytid!r} has no labels.")
            segments.append(segment)
    return segments


def _labels_of(record):
    return record["labels"] if isinstance(record, dict) else record.labels


def curriculum_splits(records, ontology=None, max_sources=4):
    """Sort clips into curriculum stages by their number of sources.

    Args:
        records: :class:`Segment` objects (or any records with ``labels``,
            as an attribute or a dict key).
        ontology: an :class:`Ontology`; None uses the bundled one.
        max_sources: the last stage, which also takes every clip with more
            sources (4: C1, C2, C3 and C4 = "4 or more").

    Returns:
        dict ``{1: [...], 2: [...], ..., max_sources: [...]}`` of the records,
        in their input order; every key is present, possibly empty.

    Raises:
        ValueError: if ``max_sources`` is not a positive int, or a record has
            no labels or an unknown mid.
    """
    max_sources = check_positive_int(max_sources, "max_sources")
    ontology = _resolve(ontology)
    splits = {stage: [] for stage in range(1, max_sources + 1)}
    for record in records:
        count = count_sources(_labels_of(record), ontology)
        if count == 0:
            raise ValueError(f"`records` holds a record without labels: {record!r}.")
        splits[min(count, max_sources)].append(record)
    return splits
