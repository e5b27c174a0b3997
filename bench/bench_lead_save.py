"""Saving one lead over RPC on 100k leads and 100k parties (PostgreSQL).

Two databases of the same size: `<prefix>_leadsave_crm`, a copy of the
template with crm_core (bench/database.py), and `<prefix>_leadsave_host`, a
copy of a template with the host modules of the leads only (party, company,
sale_opportunity). Each gets a company with the ORM; the CRM one also a team
of three salespeople with an assignment rule routing every new lead and
three scoring rules. CRM_BENCH_LEAD_SAVE_SIZE parties (100k by default), each
with an e-mail, a phone and an address, and a lead each are inserted with
COPY (the generator of bench_import), the keys of the look-alike search
filled, the tables analysed; the filled databases are kept as templates
(`<prefix>_lsfill<kind>_<key>`) while the modules do not change, and each
run measures on fresh copies.

A real trytond server serves each database; over JSON-RPC, as the web
client saves a party form then a lead form, one save is: create the party
with its e-mail, phone and address, read back its contact mechanisms and
addresses, create the lead on them, read back its form fields. After
CRM_BENCH_LEAD_SAVE_WARMUP saves, CRM_BENCH_LEAD_SAVES saves (60) are timed
alternately on the two servers, so that both see the same load of the
machine: p50 and p95. The figure is the p95 with crm_core, the baseline the
p95 with the host modules only (target: p95 < 150 ms and ratio < 2).

    CRM_BENCH_PREFIX=bench_perf .venv/bin/python bench/run.py lead_save

The per-save work is profiled in-process (cProfile and the SQL with its
timings) on a filled CRM database:

    CRM_BENCH_PREFIX=bench_perf .venv/bin/python -m bench.bench_lead_save \\
        profile
"""
import datetime as dt
import os
import sys
import time
from decimal import Decimal

from bench import database as benchdb
from bench.bench_import import Leads
from bench.tools import (
    Client, Result, Timer, cpu_seconds, database_cpu_delta,
    database_cpu_seconds, free_port, percentiles, serve)

SIZE = int(os.environ.get('CRM_BENCH_LEAD_SAVE_SIZE', 100_000))
SAVES = int(os.environ.get('CRM_BENCH_LEAD_SAVES', 60))
WARMUP = int(os.environ.get('CRM_BENCH_LEAD_SAVE_WARMUP', 10))
TARGET = 150.0  # ms, p95
TARGET_RATIO = 2
#: Without the assignment rule (CRM_BENCH_LEAD_SAVE_ASSIGN=0): to tell the
#: share of the automatic assignment in the save
ASSIGN = os.environ.get('CRM_BENCH_LEAD_SAVE_ASSIGN', '1') != '0'
#: The plans the profile prints
PLANS = int(os.environ.get('CRM_BENCH_LEAD_SAVE_PLANS', 6))
EMPLOYEES = 3
OPPORTUNITY_FIELDS = [
    'number', 'party', 'contact', 'address', 'description', 'amount',
    'state', 'employee', 'company', 'currency', 'conversion_probability']
CRM_OPPORTUNITY_FIELDS = OPPORTUNITY_FIELDS + [
    'expected_closing', 'priority', 'team', 'stage', 'score',
    'win_probability', 'assignment_note']


def setup(database, crm):
    "Create the company, its salespeople and for crm_core its rules"
    pool = benchdb.pool(database)
    with benchdb.transaction(database) as transaction:
        Party = pool.get('party.party')
        Employee = pool.get('company.employee')
        Country = pool.get('country.country')
        company = benchdb.create_company(pool)
        country, = Country.create([{
                    'name': "Bulgaria", 'code': 'BG', 'code3': 'BGR'}])
        employees = Employee.create([{
                    'party': p.id, 'company': company.id}
                for p in Party.create([{'name': f"Salesperson {i}"}
                        for i in range(EMPLOYEES)])])
        ids = {
            'company': company.id, 'currency': company.currency.id,
            'country': country.id, 'employees': [e.id for e in employees],
            }
        if crm:
            Team = pool.get('crm.team')
            Rule = pool.get('crm.assignment.rule')
            ScoringRule = pool.get('crm.scoring.rule')
            Stage = pool.get('crm.stage')
            team, = Team.create([{
                        'name': "Sales", 'company': company.id,
                        'members': [('create', [{'employee': e.id}
                                    for e in employees])],
                        }])
            with transaction.set_context(company=company.id):
                Rule.create([{
                            'name': "Every lead", 'company': company.id,
                            'team': team.id, 'domain': '[]',
                            }])
                ScoringRule.create([{
                            'name': name, 'points': points, 'domain': domain,
                            'company': company.id,
                            } for name, points, domain in [
                            ("Big deal", 10, '[["amount", ">=", 50000]]'),
                            ("Web form", -5,
                                '[["capture_channel", "=", "web_form"]]'),
                            ("Bulgaria", 5, '[["party.addresses.country'
                                '.code", "=", "BG"]]'),
                            ]])
            stage, = Stage.search(
                [('opportunity_state', '=', 'lead')], limit=1)
            ids.update(team=team.id, stage=stage.id)
        transaction.commit()
    return ids


def load(database, ids, size, crm):
    """Insert the parties with e-mail, phone and address and a lead each
    with COPY"""
    rows = Leads(size, seed=3)
    with benchdb.connect(database) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM party_party")
        start, = cursor.fetchone()
        rows = list(rows)
        with cursor.copy(
                "COPY party_party (id, name, code, active, create_uid, "
                "create_date) FROM STDIN") as copy:
            for offset, row in enumerate(rows, 1):
                copy.write_row((start + offset, row[0], f'L{start + offset}',
                        True, 0, '2026-01-01'))
        cursor.execute(
            "SELECT setval('party_party_id_seq', %s)", (start + size,))
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM party_address")
        address_start, = cursor.fetchone()
        with cursor.copy(
                "COPY party_address (id, party, city, country, active, "
                "sequence, create_uid, create_date) FROM STDIN") as copy:
            for offset, row in enumerate(rows, 1):
                copy.write_row((address_start + offset, start + offset,
                        row[5], ids['country'], True, 10, 0, '2026-01-01'))
        cursor.execute("SELECT setval('party_address_id_seq', %s)",
            (address_start + size,))
        cursor.execute(
            "SELECT COALESCE(MAX(id), 0) FROM party_contact_mechanism")
        mechanism_start, = cursor.fetchone()
        with cursor.copy(
                "COPY party_contact_mechanism (id, party, type, value, "
                "value_compact, name, active, sequence, create_uid, "
                "create_date) FROM STDIN") as copy:
            for offset, row in enumerate(rows, 1):
                party = start + offset
                mechanism = mechanism_start + 2 * offset - 1
                copy.write_row((mechanism, party, 'email', row[2],
                        row[2], row[1], True, 10, 0, '2026-01-01'))
                copy.write_row((mechanism + 1, party, 'phone', row[3],
                        row[3], row[1], True, 20, 0, '2026-01-01'))
        cursor.execute("SELECT setval('party_contact_mechanism_id_seq', %s)",
            (mechanism_start + 2 * size,))
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM sale_opportunity")
        opportunity_start, = cursor.fetchone()
        columns = ['id', 'number', 'party', 'contact', 'address', 'company',
            'currency', 'employee', 'description', 'amount', 'state',
            'conversion_probability', 'start_date', 'create_uid',
            'create_date']
        if crm:
            columns += [
                'expected_closing', 'priority', 'team', 'stage', 'score']
        with cursor.copy(
                f"COPY sale_opportunity ({', '.join(columns)}) "
                "FROM STDIN") as copy:
            for offset, row in enumerate(rows, 1):
                number = opportunity_start + offset
                values = [number, f'L{number}', start + offset,
                    mechanism_start + 2 * offset - 1, address_start + offset,
                    ids['company'], ids['currency'],
                    ids['employees'][offset % EMPLOYEES], row[0], row[6],
                    'lead', 0.1, '2026-01-01', 0, '2026-01-01']
                if crm:
                    values += [row[7], '1', ids['team'], ids['stage'], 0]
                copy.write_row(values)
        cursor.execute("SELECT setval('sale_opportunity_id_seq', %s)",
            (opportunity_start + size,))
        conn.commit()
    if crm:
        pool = benchdb.pool(database)
        with benchdb.transaction(database) as transaction:
            # the keys of the look-alike search, as the ORM sets them
            pool.get('party.contact_mechanism').crm_fill_keys()
            transaction.commit()
    with benchdb.connect(database) as conn:
        conn.autocommit = True
        conn.execute('VACUUM ANALYZE')


def release(database):
    "Close the connections of this process to the database"
    from trytond import backend
    from trytond.pool import Pool
    Pool.stop(database)
    backend.Database(database).close()
    with benchdb.admin() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()", (database,))


def filled_template(crm):
    """Return the template filled with SIZE parties and leads, creating it
    if needed; kept while the modules do not change"""
    if crm:
        kind, base = 'lsfillcrm', benchdb.prepare_template()
    else:
        kind, base = 'lsfillhost', benchdb.prepare_host_template()
    key = base.rsplit('_', 1)[-1]
    template = f'{benchdb.PREFIX}_{kind}_{SIZE}_{key}'
    building = f'{template}_building'
    with benchdb.admin() as conn:
        names = [r[0] for r in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (f'{benchdb.PREFIX}_{kind}_%',))]
        for name in names:
            if name != template:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if template in names:
            return template
        conn.execute(f'CREATE DATABASE "{building}" TEMPLATE "{base}"')
    ids = setup(building, crm)
    load(building, ids, SIZE, crm)
    release(building)
    with benchdb.admin() as conn:
        conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
    return template


class Saver:
    "Save leads like the web client over JSON-RPC"

    def __init__(self, port, database, crm):
        self.client = Client(port, database)
        self.client.login('admin', 'admin')
        self.context = self.client.context
        self.country, = self.client.call('model.country.country.search',
            [('code', '=', 'BG')], 0, 1, None, self.context)
        self.crm = crm
        self.fields = CRM_OPPORTUNITY_FIELDS if crm else OPPORTUNITY_FIELDS
        #: (party id, amount, lead read back) of each save
        self.leads = []

    def save(self, row):
        company, name, email, phone, _, city, amount, date = row
        call = self.client.call
        context = self.context
        closing = dt.date.fromisoformat(date)
        with Timer() as timer:
            party_id, = call('model.party.party.create', [{
                        'name': company,
                        'contact_mechanisms': [['create', [
                                    {'type': 'email', 'value': email,
                                        'name': name},
                                    {'type': 'phone', 'value': phone,
                                        'name': name}]]],
                        'addresses': [['create', [{
                                        'city': city,
                                        'country': self.country}]]],
                        }], context)
            party, = call('model.party.party.read', [party_id],
                ['rec_name', 'contact_mechanisms', 'addresses'], context)
            values = {
                'party': party_id,
                'contact': party['contact_mechanisms'][0],
                'address': party['addresses'][0],
                'description': company,
                'amount': {'__class__': 'Decimal',
                    'decimal': str(Decimal(amount))},
                }
            if self.crm:
                values['expected_closing'] = {'__class__': 'date',
                    'year': closing.year, 'month': closing.month,
                    'day': closing.day}
            lead_id, = call(
                'model.sale.opportunity.create', [values], context)
            lead, = call('model.sale.opportunity.read', [lead_id],
                self.fields, context)
        self.leads.append((party_id, Decimal(amount), lead))
        return timer.seconds * 1000

    def check(self, ids):
        """Return the leads saved wrong, in words: a lead on its party in
        state lead; with crm_core on the team's first stage, scored by the
        rules of setup() and assigned round-robin (the counts of the
        salespeople differ by one at most)"""
        wrong = []
        assigned = {e: 0 for e in ids['employees']}
        for party_id, amount, lead in self.leads:
            expected = {'party': party_id, 'state': 'lead'}
            if self.crm:
                # "Bulgaria" holds for every lead, "Big deal" over 50,000
                expected.update(team=ids['team'], stage=ids['stage'],
                    score=5 + (10 if amount >= 50000 else 0))
            got = {k: lead[k] for k in expected}
            if got != expected:
                wrong.append(f"lead {lead['id']}: {got} instead of {expected}")
            if self.crm and ASSIGN:
                if lead['employee'] not in assigned:
                    wrong.append(f"lead {lead['id']} assigned to "
                        f"{lead['employee']}, not to a member of the team")
                else:
                    assigned[lead['employee']] += 1
        if (self.crm and ASSIGN
                and max(assigned.values()) - min(assigned.values()) > 1):
            wrong.append(f"round-robin not fair: {assigned}")
        return wrong


def expected_ids(database):
    """Return the ids setup() gave the CRM database, read with SQL: the
    team, its salespeople and the first stage of a lead"""
    with benchdb.connect(database) as conn:
        (team,), = conn.execute("SELECT id FROM crm_team WHERE name = 'Sales'")
        employees = [e for e, in conn.execute(
                "SELECT employee FROM crm_team_member WHERE team = %s",
                (team,))]
        (stage,), = conn.execute(
            "SELECT id FROM crm_stage WHERE opportunity_state = 'lead' "
            "AND active AND team IS NULL "
            "ORDER BY sequence ASC NULLS FIRST, id LIMIT 1")
    return {'team': team, 'employees': employees, 'stage': stage}


def bench_lead_save():
    with Timer() as load_timer:
        templates = {
            'crm': filled_template(True),
            'host': filled_template(False),
            }
    servers = {}
    savers = {}
    cpu = {}
    databases = {}
    database_cpu = {}
    try:
        for kind, template in templates.items():
            database = benchdb.fresh_database(
                f'leadsave_{kind}', template=template)
            if kind == 'crm' and not ASSIGN:
                with benchdb.connect(database) as conn:
                    conn.execute(
                        'UPDATE crm_assignment_rule SET active = false')
            port = free_port()
            databases[kind] = database
            servers[kind] = serve(database, port)
            savers[kind] = Saver(port, database, kind == 'crm')
        rows = iter(Leads(2 * (WARMUP + SAVES), seed=11))
        durations = {k: [] for k in savers}
        for index in range(WARMUP + SAVES):
            if index == WARMUP:
                cpu = {k: cpu_seconds(s.pid) for k, s in servers.items()}
                database_cpu = {k: database_cpu_seconds(d)
                    for k, d in databases.items()}
            # alternately, the other one first every other time
            kinds = list(savers)
            if index % 2:
                kinds.reverse()
            for kind in kinds:
                duration = savers[kind].save(next(rows))
                if index >= WARMUP:
                    durations[kind].append(duration)
        cpu = {k: (cpu_seconds(s.pid) - cpu[k]) * 1000 / SAVES
            for k, s in servers.items()}
        database_cpu = {k: database_cpu_delta(database_cpu[k],
                database_cpu_seconds(d)) * 1000 / SAVES
            for k, d in databases.items()}
    finally:
        for server in servers.values():
            server.terminate()
            server.wait(timeout=30)
    crm = percentiles(durations['crm'])
    host = percentiles(durations['host'])
    ids = expected_ids(databases['crm'])
    wrong = savers['crm'].check(ids) + savers['host'].check(ids)
    detail = {
        'leads': SIZE, 'parties': SIZE, 'saves': SAVES, 'warmup': WARMUP,
        'p50_ms': round(crm[0], 1), 'baseline_p50_ms': round(host[0], 1),
        'server_cpu_ms': round(cpu['crm'], 1),
        'baseline_server_cpu_ms': round(cpu['host'], 1),
        'postgresql_cpu_ms': round(database_cpu['crm'], 1),
        'baseline_postgresql_cpu_ms': round(database_cpu['host'], 1),
        'max_ms': round(max(durations['crm']), 1),
        'baseline_max_ms': round(max(durations['host']), 1),
        'baseline_is': ('the same save on a database of the same size with '
            'party, company and sale_opportunity only'),
        'ratio_target': TARGET_RATIO,
        'load_seconds': round(load_timer.seconds, 1),
        'assignment_rule': ASSIGN,
        }
    return [
        Result('lead_save.rpc_p95', crm[1], 'ms', baseline=host[1],
            target=TARGET, detail=detail, correct=not wrong,
            check=('; '.join(wrong[:5]) if wrong else
                f"each of the {WARMUP + SAVES} leads saved on its party, "
                "with crm_core on the team's first stage, scored by the "
                "rules" + (" and assigned round-robin" if ASSIGN else ""))),
        ]


def profile(saves=20, top=40):
    """Profile saves of leads in-process on a fresh copy of the filled CRM
    database: cProfile and the SQL queries with their cumulative time"""
    import cProfile
    import pstats
    from collections import defaultdict

    database = benchdb.fresh_database(
        'leadsave_profile', template=filled_template(True))
    pool = benchdb.pool(database)
    from trytond.backend.postgresql.database import LoggingCursor
    queries = defaultdict(lambda: [0, 0.0, None])
    execute = LoggingCursor.execute

    def timed_execute(self, sql, args=None, **kwargs):
        start = time.perf_counter()
        try:
            return execute(self, sql, args, **kwargs)
        finally:
            entry = queries[sql if isinstance(sql, str) else str(sql)]
            entry[0] += 1
            entry[1] += time.perf_counter() - start
            entry[2] = args
    rows = list(Leads(saves + 5, seed=13))
    with benchdb.transaction(database, user=1):
        User = pool.get('res.user')
        context = User.get_preferences(context_only=True)
    profiler = cProfile.Profile()

    retries = []

    def save(row):
        "Each RPC in its transaction, started again on a lock as trytond"
        from trytond.transaction import TransactionError
        company, name, email, phone, _, city, amount, date = row
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        Country = pool.get('country.country')

        def create_party():
            country, = Country.search([('code', '=', 'BG')])
            party, = Party.create([{
                        'name': company,
                        'contact_mechanisms': [('create', [
                                    {'type': 'email', 'value': email,
                                        'name': name},
                                    {'type': 'phone', 'value': phone,
                                        'name': name}])],
                        'addresses': [('create', [{
                                        'city': city,
                                        'country': country.id}])],
                        }])
            return party.id

        def create_lead(party_id):
            party = Party(party_id)
            Opportunity.create([{
                        'party': party.id,
                        'contact': party.contact_mechanisms[0].id,
                        'address': party.addresses[0].id,
                        'description': company, 'amount': Decimal(amount),
                        'expected_closing': dt.date.fromisoformat(date),
                        }])

        def rpc(function, *args):
            extras = {}
            while True:
                with benchdb.transaction(database, user=1, context=context,
                        **extras) as transaction:
                    try:
                        result = function(*args)
                    except TransactionError as exception:
                        retries.append(function.__name__)
                        transaction.rollback()
                        exception.fix(extras)
                        continue
                    transaction.commit()
                    return result
        rpc(create_lead, rpc(create_party))

    for row in rows[:5]:
        save(row)
    retries.clear()
    LoggingCursor.execute = timed_execute
    try:
        with Timer() as timer:
            profiler.enable()
            for row in rows[5:]:
                save(row)
            profiler.disable()
    finally:
        LoggingCursor.execute = execute
    print(f"# {saves} saves in-process: {timer.seconds * 1000 / saves:.1f} "
        "ms per save (profiled); transactions started again on a lock: "
        f"{len(retries)} of {2 * saves} ({set(retries)})")
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.sort_stats('cumulative').print_stats(top)
    print("# SQL by cumulative time (ms per save, count per save)")
    total = sum(t for _, t, _ in queries.values())
    print(f"# all SQL: {total * 1000 / saves:.1f} ms per save, "
        f"{sum(c for c, _, _ in queries.values()) / saves:.0f} queries")
    slowest = sorted(queries.items(), key=lambda i: -i[1][1])
    for sql, (count, seconds, _) in slowest[:top]:
        print(f"{seconds * 1000 / saves:8.2f} ms {count / saves:5.1f}x  "
            f"{sql[:300]}")
    print("# the plans of the slowest")
    with benchdb.connect(database) as conn:
        for sql, (count, seconds, args) in slowest[:PLANS]:
            if not sql.lstrip().upper().startswith('SELECT'):
                continue
            print(f"{seconds * 1000 / saves:8.2f} ms {count / saves:5.1f}x  "
                f"{sql}\n  {args}")
            for line, in conn.execute(
                    'EXPLAIN (ANALYZE, BUFFERS) ' + sql, args):
                print('   ', line)
            conn.rollback()
    release(database)
    with benchdb.admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}"')


if __name__ == '__main__':
    if sys.argv[1:] == ['profile']:
        profile()
    else:
        for result in bench_lead_save():
            print(result.as_json())
