from django.apps import AppConfig


class RagchatConfig(AppConfig):
    """The project package is an app only so that its management commands (createadmin) are found."""

    name = "ragchat"
