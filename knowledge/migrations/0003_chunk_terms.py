"""Chunk.terms: each chunk's packed term counts, so the search index's BM25 side loads without tokenising.

Existing chunks are filled here, in batches, so a deployed database keeps its cold start fast. Should this
be skipped or the tokeniser change later, the index tokenises the text of any chunk without current terms.
"""

from django.db import migrations, models

BATCH = 500


def fill_terms(apps, schema_editor):
    from knowledge.lexical import pack_terms

    Chunk = apps.get_model("knowledge", "Chunk")
    last = 0
    while True:
        batch = list(Chunk.objects.filter(pk__gt=last).order_by("pk").only("pk", "text")[:BATCH])
        if not batch:
            return
        for chunk in batch:
            chunk.terms = pack_terms(chunk.text)
        Chunk.objects.bulk_update(batch, ["terms"])
        last = batch[-1].pk


class Migration(migrations.Migration):

    dependencies = [
        ("knowledge", "0002_document_ready_sync_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="terms",
            field=models.BinaryField(blank=True, default=b""),
        ),
        migrations.RunPython(fill_terms, migrations.RunPython.noop, elidable=True),
    ]
