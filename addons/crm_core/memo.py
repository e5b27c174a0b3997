# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Memos that live as long as the transaction, for look-ups repeated per
record by bulk paths (the import calls preprocess_values once per row) and
for the queries several fields of one read share (the 360° view)"""
from weakref import WeakKeyDictionary

from trytond.transaction import Transaction

_memos = WeakKeyDictionary()


def transaction_memo(name, models=()):
    """Return the dict memo of the transaction for name

    It starts empty again when records of the models are created or deleted
    in the transaction (the ORM counts them); writes are not seen."""
    transaction = Transaction()
    memos = _memos.setdefault(transaction, {})
    created = transaction.create_records or {}
    deleted = transaction.delete_records or {}
    version = tuple(
        (len(created.get(m, ())), len(deleted.get(m, ()))) for m in models)
    memo_version, memo = memos.get(name, (None, None))
    if memo is None or memo_version != version:
        memo = {}
        memos[name] = (version, memo)
    return memo


def unchanged_memo(name):
    """Return the dict memo of the transaction for name

    It starts empty again after any create, write or delete through the ORM
    in the transaction (the transaction's counter)."""
    transaction = Transaction()
    memos = _memos.setdefault(transaction, {})
    counter, memo = memos.get(name, (None, None))
    if memo is None or counter != transaction.counter:
        memo = {}
        memos[name] = (transaction.counter, memo)
    return memo
