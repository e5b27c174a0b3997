"""The Pipeline painted in sao, in Chromium, with 10,000 open opportunities
(PostgreSQL).

The database `<prefix>_pipeline` is a fresh copy of the template with
crm_core (bench/database.py). A company, its salespeople and one team are
created with the ORM; 2,000 parties, 10,000 open opportunities spread over
the open stages (New 6,000, Qualified 2,500, Proposition 900, Negotiation
600, each in the state of its stage) and a planned activity for one
opportunity in three are inserted with COPY.

A real trytond serves the database and sao; headless Chromium (the helpers
of tests/tools.py) logs in as admin. The figure is the time from the click
on the menu entry *CRM / Pipeline* until the rows of the list are painted
(the first frame after the first page of rows is in the table, measured in
the page with performance.now()), p50 of REPEAT openings, each in a new tab.
The baseline is the same for the host's own list of opportunities
(sale_opportunity's action, *CRM / Leads and Opportunities*), whose view the
suite extends with the same columns. Target: 1.5 s.

The result is checked: the rows shown are the first rows of the Pipeline's
order (stage, priority, expected closing) read through the ORM, and the
counters of the stage tabs are the counts of the stages (sao counts up to
1,000 and shows "1,000+" above).

Detail: the SQL queries the server ran for one opening (counted from its
log at DEBUG), and the parts of the time as sao sees them.

    CRM_BENCH_PREFIX=bench_pipeline .venv/bin/python bench/run.py pipeline
    CRM_BENCH_PIPELINE_REUSE=1 ...   # on the database of the last run
"""
import contextlib
import datetime as dt
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from bench import database as benchdb
from bench.generator import DataGenerator
from bench.tools import Result, free_port

OPEN = int(os.environ.get('CRM_BENCH_PIPELINE_OPEN', 10_000))
REPEAT = int(os.environ.get('CRM_BENCH_PIPELINE_REPEAT', 5))
# measure again on the database loaded by a previous run (same schema)
REUSE = bool(os.environ.get('CRM_BENCH_PIPELINE_REUSE'))
TARGET = 1.5  # s
PARTIES = max(OPEN // 5, 10)
EMPLOYEES = 10
#: share of the open opportunities in each open stage
STAGES = [
    ('stage_new', 'lead', 0.60),
    ('stage_qualified', 'opportunity', 0.25),
    ('stage_proposition', 'converted', 0.09),
    ('stage_negotiation', 'converted', 0.06),
    ]
PASSWORD = 'admin'


class Opportunities(DataGenerator):
    "Open opportunities on their stage"

    def row(self, index):
        random = self.random
        draw, cumulative = index / self.size, 0
        for stage, state, share in STAGES:
            cumulative += share
            if draw < cumulative:
                break
        closing = (dt.date(2027, 1, 1) + dt.timedelta(
                days=random.randrange(365))
            if random.random() < 0.7 else None)
        return {
            'description': f"Deal {index:05d} {self.word(6).title()}",
            'party': random.randrange(PARTIES),
            'employee': random.randrange(EMPLOYEES),
            'stage': stage,
            'state': state,
            'priority': random.choice('0123'),
            'amount': random.randrange(500, 200_000),
            'expected_closing': closing,
            'activity': index % 3 == 0,
            }


def setup(database):
    "Create the company, salespeople and team with the ORM"
    pool = benchdb.pool(database)
    with benchdb.transaction(database) as transaction:
        Party = pool.get('party.party')
        Employee = pool.get('company.employee')
        Team = pool.get('crm.team')
        ModelData = pool.get('ir.model.data')
        ActivityType = pool.get('crm.activity.type')
        company = benchdb.create_company(pool)
        employees = Employee.create([{
                    'party': p.id, 'company': company.id}
                for p in Party.create([{'name': f"Salesperson {i}"}
                        for i in range(EMPLOYEES)])])
        team, = Team.create([{'name': "Sales", 'company': company.id}])
        activity_type, = ActivityType.search([], limit=1)
        ids = {
            'company': company.id,
            'currency': company.currency.id,
            'employees': [e.id for e in employees],
            'team': team.id,
            'activity_type': activity_type.id,
            'stages': {s: ModelData.get_id('crm_core', s)
                for s, _, _ in STAGES},
            }
        transaction.commit()
    return ids


def load(database, ids):
    "Insert the parties, the opportunities and their activities with COPY"
    names = DataGenerator(PARTIES, seed=3)
    opportunities = list(Opportunities(OPEN))
    with benchdb.connect(database) as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM party_party")
        start, = cursor.fetchone()
        with cursor.copy(
                "COPY party_party (id, name, code, active, create_uid, "
                "create_date) FROM STDIN") as copy:
            for offset in range(1, PARTIES + 1):
                copy.write_row((start + offset, names.name() + " Ltd",
                        f'P{start + offset}', True, 0, '2026-01-01'))
        cursor.execute("SELECT setval('party_party_id_seq', %s)",
            (start + PARTIES,))
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM sale_opportunity")
        first, = cursor.fetchone()
        probability = {'lead': 0.1, 'opportunity': 0.3, 'converted': 0.6}
        with cursor.copy(
                "COPY sale_opportunity (id, number, description, party, "
                "company, currency, employee, team, stage, state, priority, "
                "amount, conversion_probability, expected_closing, "
                "start_date, score, create_uid, create_date) "
                "FROM STDIN") as copy:
            for index, row in enumerate(opportunities, first + 1):
                copy.write_row((index, f'B{index}', row['description'],
                        start + row['party'] + 1, ids['company'],
                        ids['currency'], ids['employees'][row['employee']],
                        ids['team'], ids['stages'][row['stage']],
                        row['state'], row['priority'], row['amount'],
                        probability[row['state']], row['expected_closing'],
                        '2026-01-01', 0, 0, '2026-01-01 00:00:00'))
        cursor.execute("SELECT setval('sale_opportunity_id_seq', %s)",
            (first + OPEN,))
        with cursor.copy(
                "COPY crm_activity (company, type, summary, planned_date, "
                "employee, resource, state, create_uid, create_date) "
                "FROM STDIN") as copy:
            for index, row in enumerate(opportunities, first + 1):
                if row['activity']:
                    copy.write_row((ids['company'], ids['activity_type'],
                            f"Call {index}",
                            dt.datetime(2027, 1, 1, 9)
                            + dt.timedelta(hours=index % 500),
                            ids['employees'][row['employee']],
                            f'sale.opportunity,{index}', 'planned',
                            0, '2026-01-01 00:00:00'))
        # No "Module Configuration" wizard at the first login in sao
        cursor.execute(
            "UPDATE ir_module_config_wizard_item SET state = 'done'")
        for table in ['party_party', 'sale_opportunity', 'crm_activity']:
            cursor.execute(f"ANALYZE {table}")


def expected(database, ids):
    """Return the descriptions of the first rows of the Pipeline and of the
    host list, and the counts of the stage tabs, through the ORM"""
    pool = benchdb.pool(database)
    with benchdb.transaction(database, context={
                'company': ids['company']}):
        Opportunity = pool.get('sale.opportunity')
        ModelData = pool.get('ir.model.data')
        Action = pool.get('ir.action.act_window')
        result = {}
        for name, xml_id in [
                ('pipeline', 'crm_core.act_opportunity_pipeline'),
                ('host', 'sale_opportunity.act_opportunity_form')]:
            action = Action(ModelData.get_id(*xml_id.split('.')))
            order = action.order and eval_pyson(action.pyson_order)
            domain = eval_pyson(action.act_window_domains[0].domain)
            records = Opportunity.search(
                domain, order=order or None, limit=20)
            result[name] = [r.description for r in records]
            result[name + '_tabs'] = [
                (t.name, Opportunity.search(
                        eval_pyson(t.domain or '[]'), count=True))
                for t in action.act_window_domains if t.count]
        return result


def eval_pyson(value):
    from trytond.pyson import PYSONDecoder
    return PYSONDecoder().decode(value)


@contextlib.contextmanager
def browse(database, directory, browser, debug=False):
    """Serve the database and yield sao logged in as admin in Chromium, and
    the path of the server log"""
    server, url, log_path = serve(database, directory, debug=debug)
    try:
        driver = browser.chromium(
            pathlib.Path(directory) / ('debug' if debug else 'timing'))
        try:
            sao = browser.Sao(driver, timeout=60)
            sao.login(url, database=database, password=PASSWORD)
            with browser.artifacts(driver, 'bench_pipeline_paint'):
                yield sao, log_path
        finally:
            driver.quit()
    finally:
        server.terminate()
        server.wait(10)


def serve(database, directory, debug=False):
    """Start trytond on the database serving sao; return (process, url, path
    of its log); with debug, it logs every SQL query"""
    port = free_port()
    config = pathlib.Path(directory) / 'bench.conf'
    config.write_text(
        f"[database]\nuri = {benchdb.URI}\n"
        f"[web]\nlisten = localhost:{port}\n"
        f"root = {benchdb.TOP / 'web' / 'sao'}\n")
    log = open(pathlib.Path(directory) / 'trytond.log', 'wb')
    env = dict(os.environ, TRYTOND_LOGGING_LEVEL='10' if debug else '40')
    server = subprocess.Popen([
            str(pathlib.Path(sys.executable).parent / 'trytond'),
            '-c', str(benchdb.TOP / 'trytond.conf'), '-c', str(config),
            '-d', database],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f'http://localhost:{port}/'
    import urllib.request
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return server, url, log.name
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("trytond did not start")


# Click the menu row (arguments[0]), then record when the list of the new
# tab holds arguments[1] rows, the first and the last with their texts
# (arguments[2] and [3]), in the next frame: the rows are painted
_CLICK_AND_WATCH = '''
const [row, rows, first, last] = arguments;
window.crmPainted = null;
const panes = new Set(document.querySelectorAll('#tabcontent > .tab-pane'));
const start = performance.now();
const observer = new MutationObserver(() => {
    const pane = Array.from(document.querySelectorAll(
        '#tabcontent > .tab-pane')).find(p => !panes.has(p));
    if (!pane) {
        return;
    }
    const body = pane.querySelector('table.tree > tbody');
    const shown = body ? body.querySelectorAll(':scope > tr') : [];
    if (shown.length >= rows
            && shown[0].textContent.includes(first)
            && shown[rows - 1].textContent.includes(last)) {
        observer.disconnect();
        requestAnimationFrame(() => {
            window.crmPainted = performance.now() - start;
        });
    }
});
observer.observe(document.getElementById('tabcontent'),
    {childList: true, subtree: true, characterData: true});
row.querySelector('.column-char').click();
'''


def open_list(sao, path, texts):
    """Click the menu path; return the seconds until its rows with the texts
    are painted, the pane and the texts of the rows"""
    from selenium.webdriver.common.by import By
    sao.close_tabs()
    row = sao.menu(*path)
    sao.driver.execute_script(
        _CLICK_AND_WATCH, row, len(texts), texts[0], texts[-1])
    painted = sao.wait(
        lambda driver: driver.execute_script('return window.crmPainted'),
        f'{" / ".join(path)} not painted', timeout=60)
    pane = sao.tab(path[-1])
    table = pane.find_element(By.CSS_SELECTOR, 'table.tree')
    shown = [r.text for r in table.find_elements(
            By.CSS_SELECTOR, 'tbody > tr')]
    return painted / 1000, pane, shown


def tab_counters(sao, pane, counted):
    """Return [(tab name, counter title)] once the counters of the counted
    tabs are shown"""
    from selenium.webdriver.common.by import By

    def counters(driver):
        result = []
        for link in pane.find_elements(
                By.CSS_SELECTOR, '.tab-domain .nav-tabs > li > a'):
            badge = [b for b in link.find_elements(By.CSS_SELECTOR, '.badge')
                if b.is_displayed()]
            title = badge[0].get_attribute('title') if badge else None
            if badge and not title:
                return None
            name = link.text.replace(badge[0].text, '').strip() \
                if badge else link.text.strip()
            result.append((name, title))
        if all(dict(result).get(n) for n in counted):
            return result
    return sao.wait(counters, 'the tab counters are not shown')


def sao_counter(count):
    "The title sao gives a counter (it counts up to 1,000)"
    return '1,000+' if count >= 1000 else f'{count:,}'


def count_queries(log_path, since):
    "Count the SQL queries of the server log written after offset since"
    with open(log_path, 'rb') as log:
        log.seek(since)
        text = log.read().decode(errors='replace')
    return sum(1 for line in text.splitlines()
        if 'trytond.backend' in line and ('SELECT' in line
            or 'INSERT' in line or 'UPDATE' in line))


def bench_pipeline_paint():
    sys.path.insert(0, str(benchdb.TOP))
    from tests import tools as browser
    browser.require_browser()
    if REUSE:
        database = f'{benchdb.PREFIX}_pipeline'
        with benchdb.connect(database) as conn:
            company, = conn.execute(
                "SELECT MIN(id) FROM company_company").fetchone()
        ids = {'company': company}
    else:
        database = benchdb.fresh_database('pipeline')
        ids = setup(database)
        load(database, ids)
    wanted = expected(database, ids)

    counted = {
        'pipeline': [n for n, _ in wanted['pipeline_tabs']],
        'host': [n for n, _ in wanted['host_tabs']],
        }
    paths = {
        'pipeline': ('CRM', 'Pipeline'),
        'host': ('CRM', 'Leads and Opportunities'),
        }
    with tempfile.TemporaryDirectory(prefix='crm-bench-') as directory:
        # The timings, with the server logging errors only
        with browse(database, directory, browser) as (sao, log_path):
            timings = {'pipeline': [], 'host': []}
            shown = {}
            # a first opening of each warms the caches of both sides
            for attempt in range(REPEAT + 1):
                for name, path in paths.items():
                    seconds, pane, rows = open_list(
                        sao, path, wanted[name])
                    if attempt:
                        timings[name].append(seconds)
                    shown[name] = rows
                    if name == 'pipeline':
                        counters = tab_counters(
                            sao, pane, counted['pipeline'])
            console = browser.console_errors(
                browser.read_console(sao.driver))
        # The queries of one opening, with the server logging them
        with browse(database, directory, browser, debug=True) as (
                sao, log_path):
            queries = {}
            for name, path in paths.items():
                open_list(sao, path, wanted[name])
                tab_counters(sao, sao.tab(path[-1]), counted[name])
                sao.close_tabs()
                offset = os.path.getsize(log_path)
                open_list(sao, path, wanted[name])
                tab_counters(sao, sao.tab(path[-1]), counted[name])
                time.sleep(1)
                queries[name] = count_queries(log_path, offset)

    def first_rows_right(name):
        rows = shown[name]
        return len(rows) >= len(wanted[name]) and all(
            description in row
            for description, row in zip(wanted[name], rows))
    counts = {name: count for name, count in wanted['pipeline_tabs']}
    counters = dict(counters)
    tabs_right = all(counters.get(name) == sao_counter(count)
        for name, count in counts.items())
    pipeline = statistics.median(timings['pipeline'])
    host = statistics.median(timings['host'])
    detail = {
        'open_opportunities': OPEN,
        'repeat': REPEAT,
        'pipeline_seconds': [round(t, 3) for t in timings['pipeline']],
        'host_seconds': [round(t, 3) for t in timings['host']],
        'ratio_to_host': round(pipeline / host, 3),
        'sql_queries_opening': queries,
        'tab_counters': counters,
        'first_row': shown['pipeline'][0] if shown['pipeline'] else None,
        'console_errors': console,
        'rows_right': {n: first_rows_right(n) for n in shown},
        'tabs_right': tabs_right,
        }
    print(f"# pipeline painted in {pipeline:.3f} s, host list in "
        f"{host:.3f} s: ratio {pipeline / host:.2f}", file=sys.stderr)
    return Result('pipeline.paint_10k', pipeline, 's', baseline=host,
        target=TARGET, detail=detail,
        correct=(first_rows_right('pipeline') and first_rows_right('host')
            and tabs_right and not console),
        check="the first rows shown are the first of the Pipeline's order "
        "(and of the host list's) read through the ORM; the counters of the "
        "stage tabs are the counts of the stages; no console error")
