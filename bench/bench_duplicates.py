"""Duplicate candidates on 100k parties (PostgreSQL).

The database `bench_crm_duplicates` is a fresh copy of the template with
crm_core activated (bench/database.py). The parties, their
e-mails and phones are inserted with COPY, as an import would, a few percent
of them typed twice (same e-mail in other case, same phone, a name with a
typo). The figure is crm.duplicate.find_duplicates (the e-mail and phone
self-joins, the blocked pg_trgm name comparison and the writing of the
candidates), first run and a second idempotent run; the baseline is a
hand-written SQL self-join on e-mail alone. The one-off computation of the
compared keys of the contact mechanisms inserted in SQL is reported apart.

    make bench  # or: .venv/bin/python bench/run.py duplicates
"""
import os

from bench import database as benchdb
from bench.generator import DataGenerator
from bench.tools import Result, Timer

SIZE = int(os.environ.get('CRM_BENCH_PARTIES', 100_000))
TARGET = 10.0


class Parties(DataGenerator):
    "Parties with an e-mail and a phone, some typed twice"

    def __init__(self, size, seed=None):
        super().__init__(size, seed=seed)
        self.rows = []

    def row(self, index):
        draw = self.random.random()
        if self.rows and draw < 0.03:
            # the same e-mail typed again, another name
            name, email, _ = self.choice(self.rows)
            email = ' ' + email.upper()
            row = (self.name(), email, self.phone())
        elif self.rows and draw < 0.05:
            name, _, phone = self.choice(self.rows)
            row = (self.name(), self.email(), phone)
        elif self.rows and draw < 0.08:
            name, _, _ = self.choice(self.rows)
            row = (name + 's', self.email(), self.phone())
        else:
            name = self.name()
            row = (name, self.email(name), self.phone())
        self.rows.append(row)
        return row


def load(database, size):
    "Insert the parties and their contact mechanisms with COPY"
    with benchdb.connect(database) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM party_party")
        start, = cursor.fetchone()
        parties = list(Parties(size))
        with cursor.copy(
                "COPY party_party (id, name, code, active, create_uid, "
                "create_date) FROM STDIN") as copy:
            for offset, (name, _, _) in enumerate(parties, 1):
                copy.write_row((
                        start + offset, name, f'B{start + offset}', True, 0,
                        '2026-01-01'))
        cursor.execute(
            "SELECT setval('party_party_id_seq', %s)", (start + size,))
        with cursor.copy(
                "COPY party_contact_mechanism (party, type, value, "
                "value_compact, active, create_uid, create_date) "
                "FROM STDIN") as copy:
            for offset, (_, email, phone) in enumerate(parties, 1):
                party = start + offset
                copy.write_row(
                    (party, 'email', email, email, True, 0, '2026-01-01'))
                copy.write_row(
                    (party, 'phone', phone, phone, True, 0, '2026-01-01'))
        cursor.execute("ANALYZE party_party")
        cursor.execute("ANALYZE party_contact_mechanism")


def baseline(database):
    "Hand-written SQL: the pairs of parties with the same e-mail"
    with benchdb.connect(database) as conn, Timer() as timer:
        cursor = conn.execute(
            "SELECT DISTINCT a.party, b.party "
            "FROM party_contact_mechanism AS a "
            "JOIN party_contact_mechanism AS b "
            "ON LOWER(TRIM(a.value)) = LOWER(TRIM(b.value)) "
            "AND a.party < b.party "
            "WHERE a.type = 'email' AND b.type = 'email'")
        count = len(cursor.fetchall())
    return timer.seconds, count


def missing_pairs(database):
    """The pairs of parties sharing an e-mail (the baseline's) that are not
    candidates"""
    with benchdb.connect(database) as conn:
        cursor = conn.execute(
            "SELECT COUNT(*) FROM ("
            "SELECT DISTINCT a.party, b.party "
            "FROM party_contact_mechanism AS a "
            "JOIN party_contact_mechanism AS b "
            "ON LOWER(TRIM(a.value)) = LOWER(TRIM(b.value)) "
            "AND a.party < b.party "
            "WHERE a.type = 'email' AND b.type = 'email' "
            "EXCEPT SELECT party_a, party_b FROM crm_duplicate "
            "EXCEPT SELECT party_b, party_a FROM crm_duplicate) AS missing")
        count, = cursor.fetchone()
    return count


def bench_find_duplicates():
    database = benchdb.fresh_database('duplicates')
    with Timer() as load_timer:
        load(database, SIZE)

    pool = benchdb.pool(database)
    with benchdb.transaction(database) as transaction:
        Duplicate = pool.get('crm.duplicate')
        ContactMechanism = pool.get('party.contact_mechanism')
        # Once for rows inserted in SQL; the ORM sets the keys on save
        with Timer() as keys:
            ContactMechanism.crm_fill_keys()
        transaction.commit()
        with Timer() as timer:
            count = Duplicate.find_duplicates()
        transaction.commit()
        stored_first = Duplicate.search([], count=True)
        with Timer() as again:
            count_again = Duplicate.find_duplicates()
        transaction.commit()
        stored = Duplicate.search([], count=True)
    seconds, email_pairs = baseline(database)
    missing = missing_pairs(database)
    correct = bool(email_pairs) and not missing and count >= email_pairs
    check = (f"{email_pairs} pairs sharing an e-mail, {missing} of them "
        f"not among the {count} candidates")
    return [
        Result('duplicates.find_100k', timer.seconds, 's',
            baseline=seconds, target=TARGET, correct=correct, check=check,
            detail={
                'parties': SIZE, 'candidates': count, 'stored': stored,
                'email_pairs_baseline': email_pairs,
                'load_seconds': round(load_timer.seconds, 1)}),
        Result('duplicates.find_100k_again', again.seconds, 's',
            baseline=seconds, target=TARGET,
            correct=count_again == count and stored == stored_first,
            check=f"the second run finds the same {count} candidates and "
            "stores no new one",
            detail={'parties': SIZE}),
        Result('duplicates.fill_keys_200k', keys.seconds, 's',
            detail={'contact_mechanisms': 2 * SIZE}),
        ]
