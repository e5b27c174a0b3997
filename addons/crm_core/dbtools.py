# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The database plumbing of the suite, in one place

The backend branches (PostgreSQL or SQLite), the bulk insert (COPY), the
statistics (ANALYZE), the JIT switch, the array parameters and the clearing
of the transaction caches after SQL writes. The concept files call these
helpers; each gives on SQLite the same result as on PostgreSQL."""
import datetime as dt
import hashlib
import json
import logging
import threading
from contextlib import contextmanager

from sql import Cast, Column, For, Select, Values
from sql.conditionals import Coalesce
from sql.functions import CurrentTimestamp, DateTrunc, Extract, Function
from sql.operators import Any, Concat

from trytond import backend
from trytond.model import fields
from trytond.pool import Pool
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import (
    Transaction, TransactionError, without_check_access)

logger = logging.getLogger(__name__)

# A table whose statistics count less than GROWTH times the new rows is
# analyzed (the planner scales the counts with the size of the table)
GROWTH = 2
# The rows of one statement when they are sent as parameters
BATCH = 1000
# The periods of the reports, as period_start knows them
PERIODS = ['day', 'week', 'month', 'quarter', 'year']


class JsonToRecordset(Function):
    __slots__ = ()
    _function = 'JSON_TO_RECORDSET'


def is_postgresql():
    "Whether the database of the transaction is PostgreSQL"
    return backend.name == 'postgresql'


@contextmanager
def without_jit():
    """Run the queries of the block without PostgreSQL's JIT compilation

    Queries over many rows with many expressions are estimated above
    jit_above_cost, but compiling them costs more than it saves (about 1 s
    on a million opportunities). SET LOCAL is undone by the rollback when
    the block fails."""
    if is_postgresql():
        cursor = Transaction().connection.cursor()
        cursor.execute('SET LOCAL jit = off')
        yield
        cursor.execute('RESET jit')
    else:
        yield


def numeric(column):
    "The column of a Numeric field as a number in SQL (SQLite stores text)"
    if backend.name == 'sqlite':
        return Cast(column, 'NUMERIC')
    return column


class _SQLiteDateTime(Function):
    __slots__ = ()
    _function = 'DATETIME'


def datetime_plus(datetime_column, interval_column):
    """The date-time column plus the interval column (none as zero)

    SQLite stores a date-time as text and an interval as seconds."""
    if backend.name == 'sqlite':
        return _SQLiteDateTime(datetime_column, Concat(
                Concat('+', Coalesce(interval_column, 0)), ' seconds'))
    return datetime_column + Coalesce(interval_column, dt.timedelta(0))


class _SQLiteDate(Function):
    __slots__ = ()
    _function = 'DATE'


class _SQLiteJulianDay(Function):
    __slots__ = ()
    _function = 'JULIANDAY'


class _SQLiteStrftime(Function):
    __slots__ = ()
    _function = 'STRFTIME'


def period_start(period, datetime_column):
    """The first day of the day, ISO week (Monday), month, quarter or year
    of the date or date-time column, as a date

    SQLite's date_trunc of the host knows no week nor quarter."""
    if period not in PERIODS:
        raise ValueError(period)
    if backend.name == 'sqlite':
        if period == 'day':
            return _SQLiteDate(datetime_column)
        elif period == 'week':
            return _SQLiteDate(datetime_column, '-6 days', 'weekday 1')
        elif period == 'quarter':
            # back to the first month of the quarter
            month = Cast(_SQLiteStrftime('%m', datetime_column), 'INTEGER')
            return _SQLiteDate(datetime_column, 'start of month',
                Concat(Concat('-', (month - 1) % 3), ' months'))
        elif period == 'year':
            return _SQLiteDate(datetime_column, 'start of year')
        return _SQLiteDate(datetime_column, 'start of month')
    return Cast(DateTrunc(period, datetime_column), 'DATE')


def period_starts(period, from_date, to_date):
    """The first days of the periods (as period_start gives them) from the
    one of from_date to the one of to_date, in Python"""
    if period not in PERIODS:
        raise ValueError(period)

    def start(date):
        if period == 'week':
            return date - dt.timedelta(days=date.weekday())
        elif period == 'month':
            return date.replace(day=1)
        elif period == 'quarter':
            return date.replace(month=date.month - (date.month - 1) % 3, day=1)
        elif period == 'year':
            return date.replace(month=1, day=1)
        return date

    def following(date):
        if period == 'day':
            return date + dt.timedelta(days=1)
        elif period == 'week':
            return date + dt.timedelta(days=7)
        months = {'month': 1, 'quarter': 3, 'year': 12}[period]
        month = date.month - 1 + months
        return date.replace(year=date.year + month // 12, month=month % 12 + 1)

    date = start(from_date)
    while date <= to_date:
        yield date
        date = following(date)


def hours_between(end_column, start_column):
    "The hours from the start to the end date-time column, as a float"
    if backend.name == 'sqlite':
        # whole seconds: julianday's float loses them
        return (_SQLiteStrftime('%s', end_column)
            - _SQLiteStrftime('%s', start_column)) / 3600.0
    return Extract('EPOCH', end_column - start_column) / 3600


def days_between(end_column, start_column):
    "The whole days from the start to the end date column"
    if backend.name == 'sqlite':
        return Cast(_SQLiteJulianDay(end_column)
            - _SQLiteJulianDay(start_column), 'INTEGER')
    return end_column - start_column


def interval_hours(column):
    """The interval column in hours, as a number

    SQLite stores an interval as seconds."""
    if backend.name == 'sqlite':
        return Cast(column, 'REAL') / 3600.0
    return Extract('EPOCH', column) / 3600


def in_values(column, values):
    """The condition column in values, for one statement

    On PostgreSQL an array parameter: it is hashed when the statistics of a
    growing table still make the planner scan it, and it is one parameter."""
    values = list(values)
    if is_postgresql():
        return column == Any(values)
    return column.in_(values)


def analyze(*tables):
    """Refresh the statistics of the tables (PostgreSQL)

    tables are Models or table names; temporary tables are never analyzed
    by autovacuum, new values must be known to the planner."""
    if not is_postgresql():
        return
    cursor = Transaction().connection.cursor()
    for table in tables:
        name = table if isinstance(table, str) else table._table
        cursor.execute('ANALYZE "%s"' % name)


def analyze_grown(Models, count):
    """Refresh the statistics of the tables that count new rows make grow
    by a good part (PostgreSQL)

    The next batches, the scoring and the searches are planned for the rows
    they find, not for the table as it was before."""
    if not is_postgresql():
        return
    cursor = Transaction().connection.cursor()
    for Model in Models:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
            ('"%s"' % Model._table,))
        tuples, = cursor.fetchone()
        if tuples < GROWTH * count:
            cursor.execute('ANALYZE "%s"' % Model._table)


class _Restart(TransactionError):
    "Start the transaction again in a new snapshot (not counted as a retry)"


def serialize(*names, rows=None):
    """Serialise the transactions that write what the names stand for (e.g.
    ``'crm.loyalty.account,42'``) until they end

    On PostgreSQL each name is an advisory lock of the transaction, taken in
    order; a transaction that finds one taken waits for the holder to end.
    Rows, a table and ids every such writer updates, tell whether the
    snapshot is still fresh once the locks are held: they are locked for
    update, and when a commit updated one after the snapshot was taken (the
    snapshot misses what it wrote), the transaction starts again in a new
    snapshot. Trytond does not count such a start as a retry; and since
    only a commit makes the waiters start again, never a waiter that starts
    again itself, a queue of writers on one record moves one writer per
    commit and never runs out of retries. Without rows, a transaction that
    waited always starts again. SQLite serialises the writers already."""
    transaction = Transaction()
    database = transaction.database
    if not is_postgresql() or database.name is None:
        return
    cursor = transaction.connection.cursor()
    waited = False
    for name in sorted(set(names)):
        key = int.from_bytes(hashlib.blake2b(
                name.encode(), digest_size=8).digest(), 'big', signed=True)
        cursor.execute(*Select([database.lock_id(key)]))
        locked, = cursor.fetchone()
        if not locked:
            cursor.execute(*Select([database.lock_id(key, timeout=True)]))
            waited = True
    if rows is None:
        if waited:
            raise _Restart()
        return
    table, ids = rows
    try:
        for sub_ids in grouped_slice(sorted(ids), backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.select(table.id,
                    where=reduce_ids(table.id, sub_ids),
                    for_=For('UPDATE')))
    except backend.DatabaseTimeoutError:
        raise
    except backend.DatabaseOperationalError:
        # could not serialize access due to concurrent update
        raise _Restart()


def has_extension(name):
    "Whether the PostgreSQL extension is installed in the database"
    database = Transaction().database
    return (hasattr(database, 'has_extension')
        and database.has_extension(name))


def clear_cache(Model, ids=None):
    """Forget the cached values of the records of Model updated in SQL

    Of the ids, or of every record when None."""
    transaction = Transaction()
    transaction.counter += 1
    for cache in transaction.cache.values():
        if Model.__name__ in cache:
            records = cache[Model.__name__]
            if ids is None:
                records.clear()
            else:
                for id_ in ids:
                    records.pop(id_, None)


def clear_all_caches():
    "Forget every record cached by the transaction (after a rollback)"
    transaction = Transaction()
    transaction.counter += 1
    for cache in transaction.cache.values():
        cache.clear()


@contextmanager
def savepoint(name):
    """Run the block in a savepoint rolled back when it fails

    The exception is raised again after the rollback and the clearing of the
    caches, so that the transaction can go on (e.g. to record the failure).
    """
    cursor = Transaction().connection.cursor()
    cursor.execute('SAVEPOINT "%s"' % name)
    try:
        yield
    except BaseException:
        cursor.execute('ROLLBACK TO SAVEPOINT "%s"' % name)
        cursor.execute('RELEASE SAVEPOINT "%s"' % name)
        clear_all_caches()
        raise
    else:
        cursor.execute('RELEASE SAVEPOINT "%s"' % name)


def update_rows(Model, names, rows):
    """Write the rows (id, value, …) of the columns names in bulk

    names starts with 'id'. On PostgreSQL one JSON parameter for all the
    rows: thousands of placeholders cost more to parse and bind than the
    update itself, and JSON is encoded in C. The caches of the records are
    cleared."""
    if not rows:
        return
    cursor = Transaction().connection.cursor()
    table = Model.__table__()
    columns = [getattr(table, n) for n in names[1:]]
    if is_postgresql():
        rows_json = json.dumps(
            [dict(zip(names, r)) for r in rows], ensure_ascii=False)
        values = JsonToRecordset(Cast(rows_json, 'JSON'),
            columns_definitions=[
                (n, getattr(Model, n).sql_type().base) for n in names])
        # Column: an attribute of the function may shadow a name
        cursor.execute(*table.update(columns,
                [Column(values, n) for n in names[1:]],
                from_=[values], where=table.id == Column(values, 'id')))
    else:
        for sub_rows in grouped_slice(rows, BATCH):
            values = Values(list(sub_rows))
            cursor.execute(*table.update(columns,
                    [getattr(values, 'column%d' % (i + 2))
                        for i in range(len(columns))],
                    from_=[values],
                    where=table.id == values.column1))
    clear_cache(Model, [r[0] for r in rows])


def column_fields(Model):
    "The names of the fields of Model stored in its table"
    names = []
    for name, field in Model._fields.items():
        if name in {'id', 'create_uid', 'create_date', 'write_uid',
                'write_date'}:
            continue
        if isinstance(field, fields.Function):
            continue
        if field._type in {'one2many', 'many2many'}:
            continue
        names.append(name)
    return names


def _multivalue_defaults(Model):
    "The default values of the multi-value fields, by value model"
    result = {}
    for name, field in Model._fields.items():
        if isinstance(field, fields.MultiValue):
            method = getattr(Model, 'default_%s' % name, None)
            if method is not None:
                value = method()
                if value is not None:
                    Value = Model.multivalue_model(name)
                    result.setdefault(Value, {})[name] = value
    return result


def _insert_multivalues(Model, ids):
    """Store the default values of the multi-value fields of the new records

    set_multivalue stores the fields of one value model in one record
    matching the pattern (the company of the context)."""
    company = Transaction().context.get('company')
    for Value, values in _multivalue_defaults(Model).items():
        parent = next(n for n, f in Value._fields.items()
            if f._type == 'many2one' and f.model_name == Model.__name__)
        if 'company' in Value._fields:
            values = dict(values, company=company)
        insert_as_create(Value, [dict(values, **{parent: i}) for i in ids])


def insert_as_create(Model, vlist):
    """Insert the values as Model.create would store them; return the ids

    The defaults, the multi-value defaults, the create user and date and the
    history rows are filled like the ORM does; the caller gives the values
    the ORM would compute and calls the hooks (see create_hooks). On
    PostgreSQL the rows are copied (COPY) with ids reserved from the table
    sequence."""
    if not vlist:
        return []
    transaction = Transaction()
    database = transaction.database
    connection = transaction.connection
    cursor = connection.cursor()
    table = Model.__table__()
    names = column_fields(Model)
    with without_check_access():
        defaults = Model.default_get(names, with_rec_name=False)
    defaults = {n: v for n, v in defaults.items() if n in names}
    columns = sorted(set(defaults).union(*(v.keys() for v in vlist)))
    # create stores the translated values in ir.translation too
    assert not any(getattr(Model._fields[c], 'translate', False)
        for c in columns), "translated fields are not supported"
    formats = [Model._fields[c].sql_format for c in columns]
    user = transaction.user

    ids = database.nextid(connection, Model._table, count=len(vlist))
    if ids is not None:
        if not isinstance(ids, list):
            ids = [ids]
        # The transaction timestamp as CURRENT_TIMESTAMP stores it
        cursor.execute('SELECT CAST(CURRENT_TIMESTAMP AS TIMESTAMP)')
        now, = cursor.fetchone()
        copy_columns = ', '.join('"%s"' % c for c in (
                ['id'] + columns + ['create_uid', 'create_date']))
        tail = [user, now]
        with cursor.copy('COPY "%s" (%s) FROM STDIN' % (
                    Model._table, copy_columns)) as copy:
            for id_, values in zip(ids, vlist):
                copy.write_row([id_] + [
                        values[c] if c in values else defaults.get(c)
                        for c in columns] + tail)
    else:
        sql_columns = [getattr(table, c) for c in columns] + [
            table.create_uid, table.create_date]
        ids = []
        for values in vlist:
            row = [f(values[c] if c in values else defaults.get(c))
                for c, f in zip(columns, formats)] + [
                user, CurrentTimestamp()]
            if database.has_returning():
                cursor.execute(*table.insert(
                        sql_columns, [row], returning=[table.id]))
                ids.append(cursor.fetchone()[0])
            else:
                cursor.execute(*table.insert(sql_columns, [row]))
                ids.append(cursor.lastrowid)
    _insert_multivalues(Model, ids)
    # The history rows as create stores them (INSERT … SELECT)
    for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
        Model._insert_history(list(sub_ids))
    return ids


def create_hooks(Model, ids, browse_size=1000):
    """Call the modification hooks of the records inserted in SQL as
    Model.create calls them: every module's on_modification('create')

    In slices of browse_size records (browse checks the whole list of ids,
    which is quadratic)."""
    with without_check_access():
        for sub_ids in grouped_slice(ids, browse_size):
            records = Model.browse(list(sub_ids))
            Model.on_modification('create', records)


_warmed_up = set()
_warm_up_lock = threading.Lock()


def warm_up(database_name):
    """Compute once per process what trytond's PostgreSQL backend computes
    lazily on a connection of its own

    The backend finds out at the first INSERT whether RETURNING works, at
    the first search with unaccent or similarity whether the functions
    exist, etc., each time with a second connection of the pool. Done inside
    the transactions of a burst of posts, every request would wait for a
    second connection while holding one: as many requests as the pool has
    connections would deadlock it. Done here, before the transaction, a
    request holds at most one connection at a time."""
    if database_name in _warmed_up or backend.name != 'postgresql':
        return
    if database_name not in Pool.database_list():
        # Not loaded yet: with_pool loads it, the next post warms it up
        return
    with _warm_up_lock:
        if database_name in _warmed_up:
            return
        try:
            database = backend.Database(database_name).connect()
            database.search_path
            database.has_returning()
            database.has_insert_on_conflict()
            database.get_select_for_skip_locked()
            database.has_unaccent()
            database.has_unaccent_indexable()
            database.has_similarity()
        except Exception:
            logger.warning(
                "could not warm up database %s", database_name, exc_info=True)
        else:
            _warmed_up.add(database_name)
