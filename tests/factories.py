"""Small factories shared by the tests: users, chat sessions, messages."""

from django.contrib.auth import get_user_model

from sessions_app.models import ChatSession, Message

PASSWORD = "correct horse battery staple"


def make_user(username: str, **extra):
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)


def make_session(owner, name: str = "A chat") -> ChatSession:
    return ChatSession.objects.create(owner=owner, name=name)


def make_message(session: ChatSession, content: str, role: str = Message.Role.USER, **extra) -> Message:
    return Message.objects.create(session=session, role=role, content=content, **extra)


def make_document(content: str = "Some knowledge worth retrieving.", *, title: str = "", filename: str = "",
                  user=None, collection=None):
    """A ready Document with chunks and embeddings, through the real ingest service (in the default collection
    unless one is given)."""
    from knowledge.services import document_ingest

    return document_ingest(text=content, title=title, filename=filename, user=user, collection=collection)


def make_collection(name: str, *, groups=(), owner=None, description: str = "", private: bool = False):
    """A collection readable by everyone signed in, or, given groups, by their members only (private: by its
    owner only)."""
    from knowledge.models import Collection

    visibility = Collection.Visibility.GROUPS if groups or private else Collection.Visibility.EVERYONE
    collection = Collection.objects.create(name=name, owner=owner, description=description, visibility=visibility)
    collection.groups.set(groups)
    return collection


def run_queued():
    """What a worker does with the queue, here and now: process every pending document, oldest first, in this
    thread (so in the test's transaction). Returns the documents as they ended."""
    from knowledge.models import Document
    from knowledge.processing import document_process

    pending = Document.objects.filter(status=Document.Status.PENDING).order_by("pk").values_list("pk", flat=True)
    return [document_process(document_id=pk) for pk in list(pending)]
