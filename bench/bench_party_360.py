"""The 360° view of a customer over RPC (PostgreSQL).

The database `<prefix>_party360` is a fresh copy of the template with
crm_core (bench/database.py; sale brings account_invoice and stock, so the
extras of crm_core are active). Through proteus it gets a company with a
chart of accounts and one customer with 50 opportunities, 50 activities and
50 confirmed sales, each invoiced (posted and left unpaid, so overdue) and
shipped (half delivered). A real trytond server then serves the database;
over JSON-RPC, as the web client does, the figure is the read of the party's
CRM tab fields (`model.party.party.read`), repeated 100 times: p50 and p95.
The baseline is the read of the host fields of the party form (name,
addresses, contact mechanisms) over the same RPC. Apart, the "full" figure
adds the reads of the rows of the tab's lists (opportunities, sales,
deliveries, timeline) that the client makes to display them.

    CRM_BENCH_PREFIX=bench_party360 .venv/bin/python bench/run.py party_360
"""
import base64
import datetime as dt
import http.client
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import time
from decimal import Decimal

from bench import database as benchdb
from bench.tools import Result, Timer

RECORDS = int(os.environ.get('CRM_BENCH_PARTY_RECORDS', 50))
# measure again on the database loaded by a previous run (same schema)
REUSE = bool(os.environ.get('CRM_BENCH_PARTY_REUSE'))
REPEAT = int(os.environ.get('CRM_BENCH_PARTY_REPEAT', 100))
TARGET = 150.0  # ms, p95

HOST_FIELDS = ['name', 'addresses', 'contact_mechanisms']
CRM_FIELDS = HOST_FIELDS + [
    'activities', 'next_activity', 'activity_overdue',
    'health_score', 'health_components',
    'crm_opportunities', 'crm_sales', 'crm_timeline',
    'crm_revenue_12m', 'crm_revenue', 'receivable', 'crm_overdue',
    'crm_overdue_since', 'crm_shipments', 'crm_late_deliveries',
    ]
LISTS = {
    'crm_opportunities': ('sale.opportunity', [
            'number', 'reference', 'party', 'description', 'start_date',
            'end_date', 'employee', 'amount', 'currency', 'state']),
    'crm_sales': ('sale.sale', [
            'number', 'reference', 'sale_date', 'untaxed_amount',
            'description', 'state', 'invoice_state', 'shipment_state']),
    'crm_shipments': ('stock.shipment.out', [
            'number', 'reference', 'planned_date', 'effective_date',
            'delay', 'state']),
    'crm_timeline': ('crm.timeline', [
            'date', 'party', 'kind', 'summary', 'employee', 'amount',
            'resource']),
    }


def load(database, size):
    "The customer and its records, through proteus in this process"
    # before trytond is imported: its backend is chosen on import
    os.environ['TRYTOND_DATABASE__URI'] = benchdb.URI
    from proteus import Model, config as pconfig
    from trytond.modules.account.tests.tools import (
        create_chart, create_fiscalyear, get_accounts)
    from trytond.modules.account_invoice.tests.tools import (
        create_payment_term, set_fiscalyear_invoice_sequences)
    from trytond.modules.company.tests.tools import create_company

    config = pconfig.set_trytond(
        database, config_file=str(benchdb.TOP / 'trytond.conf'))
    config.skip_warning = True
    create_company(config=config)
    create_chart(config=config)
    today = dt.date.today()
    start = today - dt.timedelta(days=400)
    fiscalyear = set_fiscalyear_invoice_sequences(
        create_fiscalyear(today=(start, today + dt.timedelta(days=400)),
            config=config), config=config)
    fiscalyear.click('create_period')
    accounts = get_accounts(config=config)
    payment_term = create_payment_term(config=config)
    payment_term.save()

    Party = Model.get('party.party')
    Employee = Model.get('company.employee')
    Category = Model.get('product.category')
    Uom = Model.get('product.uom')
    Template = Model.get('product.template')
    Sale = Model.get('sale.sale')
    Invoice = Model.get('account.invoice')
    Shipment = Model.get('stock.shipment.out')
    Opportunity = Model.get('sale.opportunity')
    Activity = Model.get('crm.activity')
    ActivityType = Model.get('crm.activity.type')

    customer = Party(name="Acme")
    _ = customer.addresses.new(street="1 Main Street", city="Springfield")
    _ = customer.contact_mechanisms.new(type='email', value='buy@acme.test')
    _ = customer.contact_mechanisms.new(type='phone', value='+3225551234')
    customer.save()
    other = Party(name="Other Customer")
    other.save()
    seller = Party(name="Maria")
    seller.save()
    maria = Employee(party=seller)
    maria.save()

    category = Category(name="Goods", accounting=True)
    category.account_expense = accounts['expense']
    category.account_revenue = accounts['revenue']
    category.save()
    unit, = Uom.find([('name', '=', "Unit")])
    template = Template(name="Printer", default_uom=unit, type='goods',
        salable=True, list_price=Decimal(100), account_category=category)
    template.save()
    printer, = template.products

    sales = []
    for index in range(size):
        sale = Sale(party=customer if index else other,
            payment_term=payment_term, invoice_method='order')
        sale.sale_date = today - dt.timedelta(days=7 * index)
        sale.description = f"Order {index}"
        line = sale.lines.new()
        line.product = printer
        line.quantity = 1 + index % 5
        line.unit_price = Decimal(100)
        sales.append(sale)
    Sale.save(sales)
    Sale.click(sales, 'quote')
    Sale.click(sales, 'confirm')
    invoices = Invoice.find([('type', '=', 'out')])
    for invoice in invoices:
        invoice.invoice_date = invoice.sales[0].sale_date
    Invoice.save(invoices)
    Invoice.click(invoices, 'post')
    shipments = Shipment.find([])[::2]
    for click in ['assign_force', 'pick', 'pack', 'do']:
        Shipment.click(shipments, click)

    opportunities = []
    for index in range(size):
        opportunity = Opportunity(party=customer, employee=maria)
        opportunity.description = f"Deal {index}"
        opportunity.amount = Decimal(1000 + index)
        opportunity.start_date = today - dt.timedelta(days=3 * index)
        opportunity.expected_closing = today + dt.timedelta(days=index)
        opportunities.append(opportunity)
    Opportunity.save(opportunities)

    call, = ActivityType.find([('name', '=', "Call")])
    activities = []
    for index in range(size):
        activity = Activity(type=call, party=customer, employee=maria)
        activity.summary = f"Call {index}"
        activity.planned_date = dt.datetime.combine(
            today + dt.timedelta(days=index - size // 2), dt.time(10))
        activities.append(activity)
    Activity.save(activities)
    return customer.id


def free_port():
    with socket.socket() as sock:
        sock.bind(('localhost', 0))
        return sock.getsockname()[1]


class Client:
    "A JSON-RPC client of trytond, logged in like the web client"

    def __init__(self, port, database):
        self.connection = http.client.HTTPConnection('localhost', port)
        self.database = database
        self.session = None
        self.id = 0

    def call(self, method, *params):
        self.id += 1
        headers = {'Content-Type': 'application/json'}
        if self.session:
            headers['Authorization'] = 'Session ' + self.session
        self.connection.request('POST', f'/{self.database}/rpc/',
            json.dumps({'id': self.id, 'method': method, 'params': params}),
            headers)
        response = json.loads(self.connection.getresponse().read())
        if response.get('error'):
            raise RuntimeError(response['error'])
        return response['result']

    def login(self, login, password):
        user_id, session, *_ = self.call(
            'common.db.login', login, {'password': password}, 'en')
        self.session = base64.b64encode(
            f'{login}:{user_id}:{session}'.encode()).decode()
        self.context = self.call('model.res.user.get_preferences', True, {})


def serve(database, port):
    env = dict(os.environ, TRYTOND_DATABASE__URI=benchdb.URI,
        TRYTOND_WEB__LISTEN=f'localhost:{port}')
    server = subprocess.Popen([
            str(pathlib.Path(sys.executable).parent / 'trytond'),
            '-c', str(benchdb.TOP / 'trytond.conf'), '-d', database],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(('localhost', port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("trytond did not start")


def measure(function, repeat):
    "Return the p50 and p95 in milliseconds of the calls of function"
    function()  # warm the caches as a user opening the form twice would
    durations = []
    for _ in range(repeat):
        with Timer() as timer:
            function()
        durations.append(timer.seconds * 1000)
    durations.sort()
    return (statistics.median(durations),
        durations[int(round(0.95 * (len(durations) - 1)))])


def bench_party_360():
    with Timer() as load_timer:
        if REUSE:
            database = f'{benchdb.PREFIX}_party360'
            with benchdb.connect(database) as conn:
                party_id, = conn.execute(
                    "SELECT id FROM party_party WHERE name = 'Acme'"
                    ).fetchone()
        else:
            database = benchdb.fresh_database('party360')
            party_id = load(database, RECORDS)
    port = free_port()
    server = serve(database, port)
    try:
        client = Client(port, database)
        client.login('admin', 'admin')
        context = client.context

        def read(fields):
            return client.call(
                'model.party.party.read', [party_id], fields, context)

        def read_full():
            party, = read(CRM_FIELDS)
            for field, (model, fields) in LISTS.items():
                client.call(f'model.{model}.read', party[field], fields,
                    context)

        party, = read(CRM_FIELDS)
        counts = {f: len(party[f]) for f in LISTS}
        counts['activities'] = len(party['activities'])
        host = measure(lambda: read(HOST_FIELDS), REPEAT)
        crm = measure(lambda: read(CRM_FIELDS), REPEAT)
        full = measure(read_full, REPEAT)
    finally:
        server.terminate()
        server.wait(timeout=30)
    detail = {
        'records': counts, 'repeat': REPEAT,
        'health_score': party['health_score'],
        'load_seconds': round(load_timer.seconds, 1)}
    return [
        Result('party_360.read_crm_tab_p95', crm[1], 'ms',
            baseline=host[1], target=TARGET,
            detail=dict(detail, p50_ms=round(crm[0], 1),
                baseline_p50_ms=round(host[0], 1))),
        Result('party_360.read_crm_tab_with_lists_p95', full[1], 'ms',
            baseline=host[1],
            detail=dict(detail, p50_ms=round(full[0], 1))),
        ]
