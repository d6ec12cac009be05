import json
from pathlib import Path

import pytest

from avcourse.data import samples_root

from avcourse.data import audioset

# The real metadata: ../shared/data beside a checkout, else the identical copy bundled in the package.
_CHECKOUT_SHARED = Path(__file__).parents[2].parent / "shared" / "data" / "audioset"
SHARED = _CHECKOUT_SHARED if _CHECKOUT_SHARED.is_dir() else samples_root() / "metadata" / "audioset"
pytestmark = pytest.mark.skipif(
    not (SHARED / "ontology.json").is_file(), reason=f"the real AudioSet metadata is not at {SHARED}"
)

VIOLIN, CELLO, BOWED = "/m/07y_7", "/m/01xqw", "/m/0l14_3"
MUSIC, MUSICAL_INSTRUMENT, SILENCE = "/m/04rlf", "/m/04szw", "/m/028v0c"
GROWLING, DOG, CAT, CANIDAE, ROARING_CATS = "/m/0ghcn6", "/m/0bt9lr", "/m/01yrx", "/m/01z5f", "/m/0cdnk"


@pytest.fixture(scope="module")
def ontology():
    return audioset.load_ontology(SHARED / "ontology.json")


@pytest.fixture(scope="module")
def raw_nodes():
    return json.loads((SHARED / "ontology.json").read_text())


def test_ontology_structure_matches_an_independent_bfs(ontology, raw_nodes):
    children = {node["id"]: node["child_ids"] for node in raw_nodes}
    has_parent = {child for kids in children.values() for child in kids}
    roots = [mid for mid in children if mid not in has_parent]
    levels = {root: 1 for root in roots}
    frontier = roots
    while frontier:
        next_frontier = []
        for mid in frontier:
            for child in children[mid]:
                if child not in levels:
                    levels[child] = levels[mid] + 1
                    next_frontier.append(child)
        frontier = next_frontier

    assert len(ontology) == 632
    assert len(ontology.roots) == 7 and set(ontology.roots) == set(roots)
    assert dict(ontology.levels) == levels
    assert sum(len(parents) > 1 for parents in ontology.parents.values()) == 38
    assert ontology.names[VIOLIN] == "Violin, fiddle" and ontology.mid("Cello") == CELLO
    assert ontology.parents[VIOLIN] == (BOWED,)
    assert set(ontology.parents[GROWLING]) == {DOG, CAT, ROARING_CATS, CANIDAE}
    assert ontology.levels[MUSIC] == 1 and ontology.levels[MUSICAL_INSTRUMENT] == 2
    assert ontology.levels[BOWED] == 3 and ontology.levels[VIOLIN] == 4


def test_ancestors_of_violin(ontology):
    assert audioset.ancestors(VIOLIN, ontology) == (MUSIC, MUSICAL_INSTRUMENT, BOWED)
    assert audioset.ancestors(MUSIC, ontology) == ()


def test_violin_and_cello_are_one_bowed_string_source(ontology):
    assert audioset.reduce_to_level3([VIOLIN, CELLO], ontology) == {BOWED}
    assert audioset.count_sources([VIOLIN, CELLO], ontology) == 1


def test_music_is_dropped_beside_violin(ontology):
    assert audioset.reduce_to_level3([MUSIC, VIOLIN], ontology) == {BOWED}
    assert audioset.reduce_to_level3([MUSIC, MUSICAL_INSTRUMENT], ontology) == {MUSICAL_INSTRUMENT}


def test_level2_leaf_and_lone_music_are_kept(ontology):
    assert ontology.levels[SILENCE] == 2 and ontology.children[SILENCE] == ()
    assert audioset.reduce_to_level3([SILENCE], ontology) == {SILENCE}
    assert audioset.reduce_to_level3([SILENCE, VIOLIN], ontology) == {SILENCE, BOWED}
    assert audioset.count_sources([MUSIC], ontology) == 1


def test_multi_parent_label_rule(ontology):
    # Growling (level 4) has four level-3 parents; alone it maps to the smallest mid.
    assert sorted([DOG, CAT, CANIDAE, ROARING_CATS])[0] == CAT
    assert audioset.reduce_to_level3([GROWLING], ontology) == {CAT}
    # Beside Dog it joins the Dog source instead of adding a second one.
    assert audioset.reduce_to_level3([DOG, GROWLING], ontology) == {DOG}
    # Howl (under Dog and Canidae) is settled first (smaller mid) and picks Canidae;
    # Growling then joins Canidae: one source.
    howl = ontology.mid("Howl")
    assert howl < GROWLING
    assert audioset.reduce_to_level3([howl, GROWLING], ontology) == {CANIDAE}
    # "Chirp, tweet" sits under a level-4 class (bird vocalization -> Bird) and under
    # "Brief tone" (level 3): the candidates are every level-3 ancestor.
    chirp, bird, brief_tone = ontology.mid("Chirp, tweet"), ontology.mid("Bird"), ontology.mid("Brief tone")
    assert bird < brief_tone
    assert audioset.reduce_to_level3([chirp], ontology) == {bird}
    assert audioset.reduce_to_level3([chirp, brief_tone], ontology) == {brief_tone}


def test_reduce_rejects_bad_mids(ontology):
    with pytest.raises(ValueError, match=r"`mids` holds 1 mid\(s\) not in the ontology: \['/m/nope'\]"):
        audioset.reduce_to_level3([VIOLIN, "/m/nope"], ontology)
    with pytest.raises(ValueError, match="`mids` must be an iterable of mids, not one string"):
        audioset.count_sources(VIOLIN, ontology)
    with pytest.raises(ValueError, match="`mid` must be a class"):
        audioset.ancestors("/m/nope", ontology)


# Counts of the 12 rows of the real segments head, worked out by hand from the ontology:
HEAD_COUNTS = {
    "--PJHxphWEs": 2,  # Speech (3) + Gush (4, under Pour)
    "--ZhevVpy1s": 1,  # Toothbrush
    "--aE2O5G5WE": 3,  # Goat + Speech + Music (level 1, ancestor of neither: kept)
    "--aO5cdqSAg": 1,  # Male singing + Child singing, both under Singing
    "--aaILOrkII": 1,  # Gunshot + Cap gun (under Gunshot)
    "--cB2ZVjpnA": 1,  # Smoke detector
    "--ekDLDTUXA": 2,  # Singing + Bang
    "-0DLPzsiXXE": 2,  # Music (kept) + Ping (under Brief tone)
    "-0DdlOuIFUI": 3,  # Sink + Water tap (both level 3) + Water (level 2, not their ancestor)
    "-0FHUc78Gqo": 1,  # Folk music; Music is its ancestor: dropped
    "-0O3e95y4gE": 2,  # Knock + Inside, small room
    "-0SdAVK79lg": 3,  # Blues, Country (+ Bluegrass), Plucked string (+ guitar, strum); Music dropped
}


def test_read_segments_csv_head():
    segments = audioset.read_segments_csv(SHARED / "balanced_train_segments_head.csv")
    assert len(segments) == 12
    first = segments[0]
    assert first == audioset.Segment("--PJHxphWEs", 30.0, 40.0, ("/m/09x0r", "/t/dd00088"))
    assert first.ytid == "--PJHxphWEs" and first.labels == ("/m/09x0r", "/t/dd00088")
    assert [s.ytid for s in segments] == list(HEAD_COUNTS)
    assert len(segments[-1].labels) == 9


def test_head_counts_and_curriculum_splits(ontology):
    segments = audioset.read_segments_csv(SHARED / "balanced_train_segments_head.csv")
    assert {s.ytid: audioset.count_sources(s.labels, ontology) for s in segments} == HEAD_COUNTS
    splits = audioset.curriculum_splits(segments, ontology)
    assert sorted(splits) == [1, 2, 3, 4]
    for stage, expected in ((1, 1), (2, 2), (3, 3)):
        assert [s.ytid for s in splits[stage]] == [y for y, c in HEAD_COUNTS.items() if c == expected]
    assert splits[4] == []
    capped = audioset.curriculum_splits(segments, ontology, max_sources=2)
    assert sorted(capped) == [1, 2] and len(capped[1]) == 5 and len(capped[2]) == 7
    as_dicts = audioset.curriculum_splits([{"labels": (VIOLIN, CELLO)}], ontology)
    assert as_dicts[1] == [{"labels": (VIOLIN, CELLO)}]


def test_segments_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="research.google.com/audioset"):
        audioset.read_segments_csv(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text('# header\nabc, 0.0, "/m/09x0r"\n')
    with pytest.raises(ValueError, match="malformed segment row"):
        audioset.read_segments_csv(bad)
    bad.write_text('abc, zero, 10.0, "/m/09x0r"\n')
    with pytest.raises(ValueError, match="malformed segment row"):
        audioset.read_segments_csv(bad)


def test_curriculum_splits_errors(ontology):
    with pytest.raises(ValueError, match="`max_sources` must be a positive integer"):
        audioset.curriculum_splits([], ontology, max_sources=0)
    with pytest.raises(ValueError, match="without labels"):
        audioset.curriculum_splits([audioset.Segment("x", 0.0, 1.0, ())], ontology)


def test_ontology_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="github.com/audioset/ontology"):
        audioset.load_ontology(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"id": "/a", "name": "A", "child_ids": ["/b"]}]))
    with pytest.raises(ValueError, match="unknown child '/b'"):
        audioset.load_ontology(bad)
    bad.write_text(json.dumps({"id": "/a"}))
    with pytest.raises(ValueError, match="is not an AudioSet ontology"):
        audioset.load_ontology(bad)


def test_bundled_defaults_match_the_real_files(ontology):
    try:
        bundled = audioset.load_ontology()
    except FileNotFoundError as error:
        pytest.skip(f"bundled samples not built yet: {error}")
    assert bundled.levels == ontology.levels and bundled.parents == ontology.parents
    assert audioset.load_ontology() is bundled
    assert audioset.read_segments_csv() == audioset.read_segments_csv(SHARED / "balanced_train_segments_head.csv")
    assert audioset.count_sources([VIOLIN, CELLO]) == 1
    splits = audioset.curriculum_splits(audioset.read_segments_csv())
    assert {stage: len(records) for stage, records in splits.items()} == {1: 5, 2: 4, 3: 3, 4: 0}
