"""Searching a subset of the documents masks the index's rows before either ranking takes its top k: a small
collection among many chunks still gets its k best hits, from base and delta rows alike, exact under int8."""

import numpy as np
import pytest

from knowledge.models import Document
from knowledge.vector_rows import Quantized, VectorRows
from tests.factories import make_collection, make_document
from tests.test_vector_rows import unit_rows

pytestmark = pytest.mark.usefixtures("fresh_index")


def test_a_small_subset_among_many_chunks_still_gets_k_hits(db, fresh_index):
    many = [make_document(f"Volcano report {i}: magma, basalt and lava flows near vent {i}.", title=f"Volcano {i}")
            for i in range(40)]
    few = [make_document(f"Garden note {i}: tomatoes, and one volcano-shaped compost heap.", title=f"Garden {i}")
           for i in range(3)]
    query = "volcano magma lava basalt"
    assert all(h.document_title.startswith("Volcano") for h in fresh_index.search(query, k=3))
    allowed = np.array([d.pk for d in few])
    hits = fresh_index.search(query, k=3, documents=allowed)
    assert sorted(h.document_title for h in hits) == ["Garden 0", "Garden 1", "Garden 2"]
    assert fresh_index.search(query, k=5, documents=np.array([many[7].pk]))[0].document_title == "Volcano 7"
    assert fresh_index.search(query, k=5, documents=np.array([], dtype=np.int64)) == []


def test_rows_added_after_the_base_are_masked_too(db, fresh_index):
    base = [make_document(f"Glacier survey {i}: ice, moraine and meltwater.", title=f"Glacier {i}") for i in range(5)]
    fresh_index.search("glacier")  # the base is loaded
    late = make_document("A late glacier survey of the moraine and its meltwater lakes.", title="Late glacier")
    hits = fresh_index.search("glacier moraine meltwater", k=10, documents=np.array([late.pk, base[0].pk]))
    assert fresh_index._held.vectors.n_delta > 0  # the late document's rows are in the delta
    assert sorted(h.document_title for h in hits) == ["Glacier 0", "Late glacier"]
    hits = fresh_index.search_vector(fresh_index.query_vector("glacier"), k=10, documents=np.array([late.pk]))
    assert [h.document_title for h in hits] == ["Late glacier"]


def test_search_for_masks_by_collection_without_asking_per_row(db, user, fresh_index, django_assert_max_num_queries):
    from django.contrib.auth.models import Group

    from knowledge.services import search_for

    group = Group.objects.create(name="Geology")
    geology = make_collection("Geology", groups=[group])
    for i in range(30):
        make_document(f"Volcano report {i}: magma and lava.", title=f"Public {i}")
    hidden = make_document("Volcano secret: magma chamber pressure readings.", title="Secret", collection=geology)
    assert "Secret" not in [h.document_title for h in search_for(user=user, query="volcano magma", k=40)]
    user.groups.add(group)
    with django_assert_max_num_queries(8):  # the same few queries for 31 documents as for one
        hits = search_for(user=user, query="volcano magma chamber", k=40)
    assert hidden.pk in [h.document_id for h in hits] and len(hits) == 31
    assert Document.objects.count() == 31


def test_an_int8_scan_rescores_the_best_allowed_rows_exactly():
    base, query = unit_rows(5_000, 64), unit_rows(1, 64, seed=9)[0]
    view = VectorRows(base, np.arange(len(base)), Quantized.of(base)).view()
    allowed = np.zeros(len(base), dtype=bool)
    allowed[::97] = True  # 52 rows, none of them likely among the 512 best overall
    scores = view.cosine(query, allowed)
    exact = base @ query
    assert np.isneginf(scores[~allowed]).all()
    assert np.allclose(scores[allowed], exact[allowed], atol=1e-6)  # all rescored: they are the best allowed
