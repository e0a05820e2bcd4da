"""Vectors and term counts move from Chunk to narrow tables of their own; IndexState records the active model.

A chunk row with its text, terms and a 1,536-float vector passed InnoDB's ~8 KB in-page limit, so vectors
were stored off-page and a cold load of the index read them 3-4x slower. Now ChunkVector holds one row per
(model, chunk), ChunkTerms one per chunk. Existing rows are copied with one INSERT ... SELECT each (no rows
through Python); the active model is the one most chunks of ready documents were embedded with. Reversible:
the active model's vectors and the term counts are copied back.
"""

import secrets
import uuid

import django.db.models.deletion
from django.db import migrations, models


def _execute(schema_editor, sql, params=()):
    with schema_editor.connection.cursor() as cursor:  # data, not schema: no DDL guard
        cursor.execute(sql, params)


def move_out(apps, schema_editor):
    def execute(sql, params=()):
        _execute(schema_editor, sql, params)

    execute("INSERT INTO knowledge_chunkvector (model, chunk_id, document_id, vector) "
            "SELECT embedding_model, id, document_id, embedding FROM knowledge_chunk WHERE LENGTH(embedding) > 0")
    execute("INSERT INTO knowledge_chunkterms (chunk_id, document_id, terms) "
            "SELECT id, document_id, terms FROM knowledge_chunk WHERE LENGTH(terms) > 0")
    Chunk = apps.get_model("knowledge", "Chunk")
    most = (Chunk.objects.filter(document__status="ready").values("embedding_model")
            .annotate(n=models.Count("id")).order_by("-n").first())
    apps.get_model("knowledge", "IndexState").objects.create(
        pk=1, active_model=most["embedding_model"] if most else "", version=secrets.randbits(62) + 1)


def move_back(apps, schema_editor):
    state = apps.get_model("knowledge", "IndexState").objects.filter(pk=1).first()
    model = state.active_model if state else ""

    def execute(sql, params=()):
        _execute(schema_editor, sql, params)

    execute("UPDATE knowledge_chunk SET embedding = (SELECT v.vector FROM knowledge_chunkvector v "
            "WHERE v.chunk_id = knowledge_chunk.id AND v.model = %s), embedding_model = %s "
            "WHERE EXISTS (SELECT 1 FROM knowledge_chunkvector v WHERE v.chunk_id = knowledge_chunk.id "
            "AND v.model = %s)", [model, model, model])
    execute("UPDATE knowledge_chunk SET dims = LENGTH(embedding) / 4")
    execute("UPDATE knowledge_chunk SET terms = (SELECT t.terms FROM knowledge_chunkterms t "
            "WHERE t.chunk_id = knowledge_chunk.id) WHERE EXISTS (SELECT 1 FROM knowledge_chunkterms t "
            "WHERE t.chunk_id = knowledge_chunk.id)")


class Migration(migrations.Migration):

    dependencies = [
        ('knowledge', '0004_document_jobs_and_uploads'),
    ]

    operations = [
        migrations.CreateModel(
            name='IndexState',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('active_model', models.CharField(blank=True, max_length=200)),
                ('target_model', models.CharField(blank=True, max_length=200)),
                ('version', models.BigIntegerField(default=0)),
                ('instance', models.UUIDField(default=uuid.uuid4, editable=False)),
                ('switched_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'search index state',
            },
        ),
        migrations.CreateModel(
            name='ChunkTerms',
            fields=[
                ('chunk', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='term_counts', serialize=False, to='knowledge.chunk')),
                ('terms', models.BinaryField()),
                ('document', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='knowledge.document')),
            ],
        ),
        migrations.CreateModel(
            name='ChunkVector',
            fields=[
                ('pk', models.CompositePrimaryKey('model', 'chunk', blank=True, editable=False, primary_key=True, serialize=False)),
                ('model', models.CharField(max_length=200)),
                ('vector', models.BinaryField()),
                ('chunk', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='vectors', to='knowledge.chunk')),
                ('document', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='knowledge.document')),
            ],
        ),
        # Defaults, so that migrating backwards can add the columns back to existing rows before filling them.
        migrations.AlterField(model_name='chunk', name='dims', field=models.PositiveIntegerField(default=0)),
        migrations.AlterField(model_name='chunk', name='embedding', field=models.BinaryField(default=b'')),
        migrations.AlterField(model_name='chunk', name='embedding_model',
                              field=models.CharField(db_index=True, default='', max_length=200)),
        migrations.RunPython(move_out, move_back),
        migrations.RemoveField(model_name='chunk', name='dims'),
        migrations.RemoveField(model_name='chunk', name='embedding'),
        migrations.RemoveField(model_name='chunk', name='embedding_model'),
        migrations.RemoveField(model_name='chunk', name='terms'),
    ]
