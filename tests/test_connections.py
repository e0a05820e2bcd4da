"""Requests keep their thread's database connection (CONN_MAX_AGE) on every database, SQLite included: opening
one per request (with SQLite's PRAGMAs) cost ~40% of a request that only authenticates (bench/load.py)."""

import pytest
from django.core.signals import request_finished, request_started
from django.db import connection


@pytest.mark.django_db(transaction=True)  # no test transaction holding the connection open: as in production
def test_the_end_of_a_request_keeps_the_database_connection():
    # Django's test client leaves connections alone; a real request's signals close them unless CONN_MAX_AGE.
    connection.ensure_connection()
    first = connection.connection
    for _ in range(3):
        request_started.send(sender=None)
        connection.ensure_connection()
        request_finished.send(sender=None)
    assert connection.connection is first
