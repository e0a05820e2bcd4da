from datetime import timedelta

from django.core.management.base import BaseCommand

from knowledge.originals import delete_original, orphaned_originals


class Command(BaseCommand):
    help = ("Delete original files that no document names (a worker killed between writing a file and committing "
            "its document leaves one). Deleting a document deletes its file by itself; this sweeps what a crash left.")

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, default=3600, metavar="SECONDS",
                            help="Only files written longer ago than this (default 3600): a younger one may belong "
                                 "to a job that is about to commit.")
        parser.add_argument("--dry-run", action="store_true", help="List the files; delete nothing.")

    def handle(self, *args, older_than, dry_run, **options):
        names = orphaned_originals(older_than=timedelta(seconds=older_than))
        for name in names:
            self.stdout.write(f"  {'would delete' if dry_run else 'deleted'}  {name}")
            if not dry_run:
                delete_original(name)
        self.stdout.write(f"{len(names)} orphaned original file(s){' found' if dry_run else ' deleted'}.")
