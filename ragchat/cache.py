"""Django's database cache, with an atomic incr(): the default home of the rate-limit counters.

Django's DatabaseCache.incr() is a get() then a set(): two worker threads counting the same failed login at
once both read 3 and both write 4, so a burst of parallel guesses would be counted as one. Here the read
and the write happen in one transaction holding the row (SELECT ... FOR UPDATE on MySQL/MariaDB; SQLite's
BEGIN IMMEDIATE already serialises writers), and the row keeps its expiry, as Redis' INCR does.
"""

import base64
import pickle

from django.core.cache.backends import db
from django.db import connections, models, router, transaction
from django.utils import timezone

from ragchat.db import from_db


class DatabaseCache(db.DatabaseCache):
    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        alias = router.db_for_write(self.cache_model_class)
        connection = connections[alias]
        quote = connection.ops.quote_name
        table = quote(self._table)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            cursor.execute(f"SELECT {quote('value')}, {quote('expires')} FROM {table} "
                           f"WHERE {quote('cache_key')} = %s{lock}", [key])
            row = cursor.fetchone()
            if row is None or _expired(connection, row[1]):
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(base64.b64decode(row[0].encode())) + delta
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(f"UPDATE {table} SET {quote('value')} = %s WHERE {quote('cache_key')} = %s",
                           [encoded, key])
        return value


def _expired(connection, expires) -> bool:
    """As DatabaseCache.get() reads the column: through the backend's datetime converters."""
    return from_db(models.Expression(output_field=models.DateTimeField()), connection)(expires) < timezone.now()
