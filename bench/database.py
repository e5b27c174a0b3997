"""The PostgreSQL databases the benchmarks work on.

Each benchmark works on its own copy of a template database with crm_core
activated, `<prefix>_tpl_<key>`, created once with trytond-admin and kept
while the modules do not change (the key of tools/run_tests.py). The prefix
is `bench_crm` unless CRM_BENCH_PREFIX says otherwise, so that two trees can
benchmark on one server without evicting each other's template.
"""
import contextlib
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile
from urllib.parse import urlsplit

TOP = pathlib.Path(__file__).resolve().parent.parent
URI = os.environ.get('CRM_BENCH_POSTGRESQL_URI', 'postgresql:///')
PREFIX = os.environ.get('CRM_BENCH_PREFIX', 'bench_crm')


def source_key():
    spec = importlib.util.spec_from_file_location(
        'run_tests', TOP / 'tools' / 'run_tests.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.source_key()


def admin():
    "Return an autocommit connection to the server's postgres database"
    import psycopg
    return psycopg.connect(
        f'postgresql://{urlsplit(URI).netloc}/postgres', autocommit=True)


def dsn(name):
    return f'postgresql://{urlsplit(URI).netloc}/{name}'


def connect(name):
    import psycopg
    return psycopg.connect(dsn(name))


def host_key():
    "Hash of what shapes a database of the host modules only"
    import hashlib
    return hashlib.sha256(
        (TOP / 'requirements.txt').read_bytes()).hexdigest()[:16]


def prepare_template(modules=('crm_core',), kind='tpl', key=None):
    """Return the template database with the modules, creating it if needed

    It is named `<prefix>_<kind>_<key>` (key: source_key() by default) and
    the templates of the same kind with another key are dropped. It is built
    under a temporary name and renamed once complete, so that a run killed
    half-way never leaves an empty template behind."""
    template = f'{PREFIX}_{kind}_{key or source_key()}'
    building = f'{template}_building'
    with admin() as conn:
        names = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (f'{PREFIX}_{kind}_%',))]
        for name in names:
            if name != template:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if template in names:
            return template
        conn.execute(f'CREATE DATABASE "{building}"')
    env = dict(os.environ, TRYTOND_DATABASE__URI=URI,
        TRYTOND_CONFIG=str(TOP / 'trytond.conf'))
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        passfile.write('admin\n')
        passfile.flush()
        env['TRYTONPASSFILE'] = passfile.name
        subprocess.run([
                str(pathlib.Path(sys.executable).parent / 'trytond-admin'),
                '-c', str(TOP / 'trytond.conf'), '-d', building,
                '--all', '-u', *modules, '--activate-dependencies',
                '--indexes', '--email', 'admin@example.com'],
            env=env, check=True, stdout=subprocess.DEVNULL)
    with admin() as conn:
        conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
    return template


def prepare_host_template():
    """Return the template database with the host modules of the leads only
    (party, company, sale_opportunity), no module of the suite"""
    return prepare_template(
        ('party', 'company', 'sale_opportunity'), kind='hosttpl',
        key=host_key())


def fresh_database(name, template=None):
    "Create the database `<prefix>_<name>` anew from the template"
    database = f'{PREFIX}_{name}'
    template = template or prepare_template()
    with admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}"')
    return database


def pool(database):
    "Return the initialised trytond pool of the database"
    os.environ['TRYTOND_DATABASE__URI'] = URI
    from trytond import config
    config.update_etc(str(TOP / 'trytond.conf'))
    from trytond.pool import Pool
    Pool.start()
    pool = Pool(database)
    pool.init()
    return pool


@contextlib.contextmanager
def transaction(database, user=0, context=None, **extras):
    "Start a trytond transaction on the database"
    from trytond.transaction import Transaction
    with Transaction().start(
            database, user, context=context or {}, **extras) as transaction:
        yield transaction


def create_company(pool, name="Bench Company"):
    """Create the company in euros, the companies of root and admin, in the
    current transaction; return it"""
    Currency = pool.get('currency.currency')
    Party = pool.get('party.party')
    Company = pool.get('company.company')
    User = pool.get('res.user')
    currency, = Currency.create([{
                'name': "Euro", 'code': 'EUR', 'symbol': '€'}])
    party, = Party.create([{'name': name}])
    company, = Company.create([{'party': party.id,
                'currency': currency.id}])
    User.write([User(0), User(1)], {
            'companies': [('add', [company.id])], 'company': company.id})
    return company


def create_accounting(database, start, end):
    """Create, through proteus in this process, the company, its chart of
    accounts, a fiscal year from start to end with its periods and invoice
    sequences, and a payment term; return the proteus configuration, the
    accounts (get_accounts) and the payment term"""
    # before trytond is imported: its backend is chosen on import
    os.environ['TRYTOND_DATABASE__URI'] = URI
    from proteus import config as pconfig
    from trytond.modules.account.tests.tools import (
        create_chart, create_fiscalyear, get_accounts)
    from trytond.modules.account_invoice.tests.tools import (
        create_payment_term, set_fiscalyear_invoice_sequences)
    from trytond.modules.company.tests.tools import create_company

    config = pconfig.set_trytond(
        database, config_file=str(TOP / 'trytond.conf'))
    config.skip_warning = True
    create_company(config=config)
    create_chart(config=config)
    fiscalyear = set_fiscalyear_invoice_sequences(
        create_fiscalyear(today=(start, end), config=config), config=config)
    fiscalyear.click('create_period')
    accounts = get_accounts(config=config)
    payment_term = create_payment_term(config=config)
    payment_term.save()
    return config, accounts, payment_term
