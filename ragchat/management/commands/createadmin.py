import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = ("Create the first login (a superuser) if no user exists yet. The password comes from "
            "RAGCHAT_ADMIN_PASSWORD, or is generated and printed once.")

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("RAGCHAT_ADMIN_USER", "admin"),
                            help="Username of the first login (default: admin, or RAGCHAT_ADMIN_USER).")

    def handle(self, *args, username, **options):
        User = get_user_model()
        if User.objects.exists():
            self.stdout.write("A login exists already; nothing to do.")
            return
        password = os.environ.get("RAGCHAT_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if os.environ.get("RAGCHAT_ADMIN_PASSWORD"):
            self.stdout.write(self.style.SUCCESS(f"Created login '{username}' with RAGCHAT_ADMIN_PASSWORD."))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"Created login '{username}' with password: {password}\n"
                "  (shown once; change it in the admin, or set RAGCHAT_ADMIN_PASSWORD next time)"))
