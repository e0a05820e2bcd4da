"""Collections in the OpenAI-format API: each collection the user may read is a model `ragchat/<name>` that
answers from it alone; another group's collection is neither listed nor usable, and `ragchat` never cites it."""

import openai
import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token

from tests.factories import make_collection, make_document, make_user

pytestmark = pytest.mark.usefixtures("fresh_index")


@pytest.fixture
def world(transactional_db, settings):
    settings.RAG_MIN_SCORE = 0.0
    alice = make_user("alice")
    legal = Group.objects.create(name="Legal")
    alice.groups.add(legal)
    contracts = make_collection("Contracts", groups=[legal], description="Signed contracts")
    board = make_collection("Board", groups=[Group.objects.create(name="Board")])
    make_document("The Acme contract's notice period is ninety days.", title="Acme contract", collection=contracts)
    make_document("The canteen's notice period for catering is two days.", title="Canteen")
    make_document("The board's notice period for the CEO is twelve months.", title="Board minutes",
                  collection=board)
    return Token.objects.create(user=alice).key


@pytest.fixture
def sdk(live_server, world):
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=world, max_retries=0, timeout=30)


def cited(sdk, model: str) -> set[str]:
    completion = sdk.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "What is the notice period?"}])
    return {s["document_title"] for s in completion.model_extra["sources"]}


def test_each_readable_collection_is_a_model(sdk):
    assert [m.id for m in sdk.models.list().data] == ["ragchat", "ragchat/Contracts", "ragchat/General"]
    assert sdk.models.retrieve("ragchat/Contracts").id == "ragchat/Contracts"


@pytest.mark.parametrize("model", ["ragchat/Board", "ragchat/contracts", "ragchat/Nope"])
def test_a_collection_you_cannot_read_is_not_a_model(sdk, model):
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve(model)
    with pytest.raises(openai.NotFoundError):
        sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": "Notice period?"}])


def test_a_collection_model_answers_from_that_collection_alone(sdk):
    assert cited(sdk, "ragchat/Contracts") == {"Acme contract"}
    assert "Board minutes" not in cited(sdk, "ragchat")
    assert "Acme contract" in cited(sdk, "ragchat")
