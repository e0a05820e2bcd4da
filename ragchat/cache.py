"""Django's database cache, with counters that the database adds to: the default home of the rate limits.

    cache.count("limits:search:...", 1, timeout=120)   # the counter's new value, in one statement

Django's DatabaseCache.incr() is a get() then a set(): two worker threads counting the same failed login at
once both read 3 and both write 4, so a burst of parallel guesses would be counted as one. A counter here is
stored as its number in plain text (`n:42`, not a pickle), so one INSERT ... ON CONFLICT/DUPLICATE KEY UPDATE
creates it or adds to it and gives the new value back: atomic, one round trip, no transaction. The
read-then-write transaction it replaces held the row locked across four round trips and a commit; every
search of a user queued behind it (5 ms a search on MariaDB, bench/load.py). get() reads counters like any
value; incr() keeps Django's own meaning, made atomic with a row lock, and a counter's form.
"""

import base64
import pickle
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache.backends import db
from django.db import connections, models, router, transaction
from django.utils import timezone

from ragchat.db import from_db

COUNTER = "n:"


class DatabaseCache(db.DatabaseCache):
    @property
    def counts_in_one_statement(self) -> bool:
        """Whether the database has an upsert that returns (not Oracle): else counters go through incr()/add()."""
        return _count_sql(connections[router.db_for_write(self.cache_model_class)], self._table) is not None

    def count(self, key: str, delta: int, *, timeout: int, version=None) -> int:
        """Add `delta` to the counter under `key` (made, at `delta`, when missing or expired) and return it."""
        key = self.make_and_validate_key(key, version=version)
        connection = connections[router.db_for_write(self.cache_model_class)]
        adapt = connection.ops.adapt_datetimefield_value
        now = adapt(timezone.now().replace(microsecond=0))
        zone = UTC if settings.USE_TZ else None  # as Django's own cache writes `expires`
        expires = adapt(datetime.fromtimestamp(self.get_backend_timeout(timeout), tz=zone).replace(microsecond=0))
        with connection.cursor() as cursor:
            cursor.execute(_count_sql(connection, self._table), [key, delta, expires, now, delta, delta])
            value = cursor.lastrowid if connection.vendor == "mysql" else int(cursor.fetchone()[0][len(COUNTER):])
        if value == delta:  # a new counter (a new window): the time to clear counters that are over
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(self._table)} WHERE "
                               f"{connection.ops.quote_name('expires')} < %s", [now])
        return value

    def get_many(self, keys, version=None):
        """Django's, for values of either form (a counter's text or a pickle)."""
        if not keys:
            return {}
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        alias = router.db_for_read(self.cache_model_class)
        connection = connections[alias]
        quote = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {quote('cache_key')}, {quote('value')}, {quote('expires')} "
                           f"FROM {quote(self._table)} WHERE {quote('cache_key')} IN "
                           f"({', '.join(['%s'] * len(key_map))})", list(key_map))
            rows = cursor.fetchall()
        found, expired = {}, []
        for key, value, expires in rows:
            if _expired(connection, expires):
                expired.append(key)
            else:
                found[key_map[key]] = _decoded(connection.ops.process_clob(value))
        self._base_delete_many(expired)
        return found

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
            value = _decoded(row[0]) + delta
            if row[0].startswith(COUNTER):  # a counter stays a counter, for the next count()'s upsert
                encoded = f"{COUNTER}{value}"
            else:
                encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(f"UPDATE {table} SET {quote('value')} = %s WHERE {quote('cache_key')} = %s",
                           [encoded, key])
        return value


def _count_sql(connection, table: str) -> str | None:
    """One statement that makes or adds to a counter; parameters: key, delta, expires, now, delta, delta.
    MySQL/MariaDB have no RETURNING for it: LAST_INSERT_ID(value) hands the value to the cursor's lastrowid."""
    quote = connection.ops.quote_name
    key, value, expires = quote("cache_key"), quote("value"), quote("expires")
    number = f"CAST(SUBSTR({value}, {len(COUNTER) + 1}) AS SIGNED)"
    if connection.vendor == "mysql":
        return (f"INSERT INTO {quote(table)} ({key}, {value}, {expires}) VALUES "
                f"(%s, CONCAT('{COUNTER}', LAST_INSERT_ID(%s)), %s) ON DUPLICATE KEY UPDATE {value} = "
                f"CONCAT('{COUNTER}', LAST_INSERT_ID(IF({expires} < %s, %s, {number} + %s)))")
    if connection.vendor in ("sqlite", "postgresql"):
        number = number.replace("SIGNED", "BIGINT")
        return (f"INSERT INTO {quote(table)} ({key}, {value}, {expires}) VALUES (%s, '{COUNTER}' || %s, %s) "
                f"ON CONFLICT ({key}) DO UPDATE SET {value} = '{COUNTER}' || (CASE WHEN {quote(table)}.{expires} "
                f"< %s THEN %s ELSE {number} + %s END) RETURNING {value}")
    return None


def _decoded(value: str):
    if value.startswith(COUNTER):
        return int(value[len(COUNTER):])
    return pickle.loads(base64.b64decode(value.encode()))


def _expired(connection, expires) -> bool:
    """As DatabaseCache.get() reads the column: through the backend's datetime converters."""
    return from_db(models.Expression(output_field=models.DateTimeField()), connection)(expires) < timezone.now()
