import numpy as np

from knowledge.embeddings import HashedEmbedder
from knowledge.lexical import stem, terms


def test_local_vectors_are_deterministic_normalised_float32():
    embedder = HashedEmbedder()
    first = embedder.embed(["The quick brown fox", "jumps over the lazy dog", ""])
    assert first.dtype == np.float32 and first.shape == (3, embedder.dims)
    assert np.allclose(np.linalg.norm(first[:2], axis=1), 1.0, atol=1e-5)
    assert not first[2].any()  # nothing to say: a zero vector, not NaN
    assert np.array_equal(first, HashedEmbedder().embed(["The quick brown fox", "jumps over the lazy dog", ""]))


def test_stop_words_do_not_make_texts_similar():
    a, b = HashedEmbedder().embed(["the cat is on the mat of the house", "the dog is in the car of the man"])
    c, d = HashedEmbedder().embed(["cat mat house", "dog car man"])
    assert abs(float(a @ b)) < 0.2
    assert np.allclose(a @ c, 1.0, atol=0.3)


def test_word_forms_meet_through_stemming():
    indexing, indexes = HashedEmbedder().embed(["indexing documents", "the document indexes"])
    unrelated = HashedEmbedder().embed(["baking bread at home"])[0]
    assert float(indexing @ indexes) > 0.6 > float(indexing @ unrelated)


def test_terms_drop_stop_words_and_stem():
    assert terms("The indexes were Indexed while indexing") == ["index", "index", "index"]
    assert stem("class") == "class" and stem("studies") == "study"


def test_model_name_records_the_vector_scheme():
    assert HashedEmbedder.model == "local-hash-v2"


def test_query_weights_make_rare_words_count_more():
    embedder = HashedEmbedder()
    plain = embedder.embed(["python zyzzyva"])[0]
    assert np.allclose(embedder.embed_query("python zyzzyva", {}), plain)
    passage = embedder.embed(["zyzzyva"])[0]
    weighted = embedder.embed_query("python zyzzyva", {"python": 0.1, "zyzzyva": 5.0})
    assert float(weighted @ passage) > float(plain @ passage) > 0
