"""Duplicate candidates on 100k parties (PostgreSQL).

The database `bench_crm` is a copy of a template with crm_core activated,
`bench_crm_tpl_<key>`, created once with trytond-admin and kept while the
modules do not change (the key of tools/run_tests.py). The parties, their
e-mails and phones are inserted with COPY, as an import would, a few percent
of them typed twice (same e-mail in other case, same phone, a name with a
typo). The figure is crm.duplicate.find_duplicates (the e-mail and phone
self-joins, the blocked pg_trgm name comparison and the writing of the
candidates), first run and a second idempotent run; the baseline is a
hand-written SQL self-join on e-mail alone. The one-off computation of the
compared keys of the contact mechanisms inserted in SQL is reported apart.

    TRYTOND_DATABASE__URI=postgresql:/// python bench/run.py duplicates
"""
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile

from bench.generator import DataGenerator
from bench.tools import Result, Timer

TOP = pathlib.Path(__file__).resolve().parent.parent
URI = os.environ.get('CRM_BENCH_POSTGRESQL_URI', 'postgresql:///')
DATABASE = 'bench_crm'
SIZE = int(os.environ.get('CRM_BENCH_PARTIES', 100_000))
TARGET = 10.0


def _source_key():
    spec = importlib.util.spec_from_file_location(
        'run_tests', TOP / 'tools' / 'run_tests.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.source_key()


def _admin():
    import psycopg
    from urllib.parse import urlsplit
    return psycopg.connect(
        f'postgresql://{urlsplit(URI).netloc}/postgres', autocommit=True)


def _dsn(name):
    from urllib.parse import urlsplit
    return f'postgresql://{urlsplit(URI).netloc}/{name}'


def prepare_template():
    "Return the template database with crm_core, creating it if needed"
    template = f'bench_crm_tpl_{_source_key()}'
    with _admin() as conn:
        names = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database "
                "WHERE datname LIKE 'bench_crm_tpl_%%'")]
        for name in names:
            if name != template:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if template in names:
            return template
        conn.execute(f'CREATE DATABASE "{template}"')
    env = dict(os.environ, TRYTOND_DATABASE__URI=URI,
        TRYTOND_CONFIG=str(TOP / 'trytond.conf'))
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        passfile.write('admin\n')
        passfile.flush()
        env['TRYTONPASSFILE'] = passfile.name
        try:
            subprocess.run([
                    str(pathlib.Path(sys.executable).parent / 'trytond-admin'),
                    '-c', str(TOP / 'trytond.conf'), '-d', template,
                    '--all', '-u', 'crm_core', '--activate-dependencies',
                    '--indexes', '--email', 'admin@example.com'],
                env=env, check=True, stdout=subprocess.DEVNULL)
        except BaseException:
            with _admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{template}"')
            raise
    return template


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
    import psycopg
    with psycopg.connect(_dsn(database)) as conn:
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
    import psycopg
    with psycopg.connect(_dsn(database)) as conn, Timer() as timer:
        cursor = conn.execute(
            "SELECT DISTINCT a.party, b.party "
            "FROM party_contact_mechanism AS a "
            "JOIN party_contact_mechanism AS b "
            "ON LOWER(TRIM(a.value)) = LOWER(TRIM(b.value)) "
            "AND a.party < b.party "
            "WHERE a.type = 'email' AND b.type = 'email'")
        count = len(cursor.fetchall())
    return timer.seconds, count


def bench_find_duplicates():
    os.environ['TRYTOND_DATABASE__URI'] = URI
    template = prepare_template()
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}"')
        conn.execute(f'CREATE DATABASE "{DATABASE}" TEMPLATE "{template}"')
    with Timer() as load_timer:
        load(DATABASE, SIZE)

    from trytond import config
    config.update_etc(str(TOP / 'trytond.conf'))
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Pool.start()
    pool = Pool(DATABASE)
    pool.init()
    with Transaction().start(DATABASE, 0) as transaction:
        Duplicate = pool.get('crm.duplicate')
        ContactMechanism = pool.get('party.contact_mechanism')
        # Once for rows inserted in SQL; the ORM sets the keys on save
        with Timer() as keys:
            ContactMechanism.crm_fill_keys()
        transaction.commit()
        with Timer() as timer:
            count = Duplicate.find_duplicates()
        transaction.commit()
        with Timer() as again:
            Duplicate.find_duplicates()
        transaction.commit()
        stored = Duplicate.search([], count=True)
    seconds, email_pairs = baseline(DATABASE)
    return [
        Result('duplicates.find_100k', timer.seconds, 's',
            baseline=seconds, target=TARGET, detail={
                'parties': SIZE, 'candidates': count, 'stored': stored,
                'email_pairs_baseline': email_pairs,
                'load_seconds': round(load_timer.seconds, 1)}),
        Result('duplicates.find_100k_again', again.seconds, 's',
            baseline=seconds, target=TARGET, detail={'parties': SIZE}),
        Result('duplicates.fill_keys_200k', keys.seconds, 's',
            detail={'contact_mechanisms': 2 * SIZE}),
        ]
