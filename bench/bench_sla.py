"""Service levels: the escalation sweep over 100k open tickets (PostgreSQL).

The database `<prefix>_sla` is a fresh copy of a template with crm_service
activated (bench/database.py). A company, a service team of ten agents (one
of them away today), a business calendar and a policy are created with the
ORM; the open tickets are inserted in SQL with their stored deadlines, as the
policy computed them: most on track or already escalated by earlier sweeps,
NEW_RISK of them newly past their at-risk date, NEW_BREACH newly past a
deadline.

Figure: crm.ticket.sla_sweep, the scheduled task (the breaches recorded, the
tickets escalated: the absent agent's tickets given to present colleagues,
the notifications of the team leader and agents), against the same UPDATEs
of the breaches and escalation levels hand-written in SQL, target 10 s; met
only when exactly the expected tickets are marked breached and escalated,
the absent agent keeps no escalated ticket and the leader is notified.

    CRM_BENCH_PREFIX=bench_sla .venv/bin/python bench/run.py sla
    CRM_BENCH_TICKETS=10000 ...   # smaller
"""
import datetime as dt
import os

from bench import database as benchdb
from bench.tools import Result, Timer

TICKETS = int(os.environ.get('CRM_BENCH_TICKETS', 100_000))
NEW_RISK = 0.01
NEW_BREACH = 0.005
AGENTS = 10
TARGET = 10.0


def setup(database):
    "Create the company, the team, the calendar and the policy"
    pool = benchdb.pool(database)
    with benchdb.transaction(database) as transaction:
        Party = pool.get('party.party')
        Employee = pool.get('company.employee')
        User = pool.get('res.user')
        Team = pool.get('crm.team')
        Absence = pool.get('crm.team.member.absence')
        Calendar = pool.get('crm.business.calendar')
        Policy = pool.get('crm.sla.policy')
        company = benchdb.create_company(pool)
        agents = Employee.create([{'party': p.id, 'company': company.id}
                for p in Party.create([{'name': f"Agent {i}"}
                        for i in range(AGENTS)])])
        User.create([{
                    'login': f'agent{i}', 'name': f"Agent {i}",
                    'employees': [('add', [a.id])], 'employee': a.id,
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    } for i, a in enumerate(agents)])
        with transaction.set_context(company=company.id):
            team, = Team.create([{
                        'name': "Support", 'company': company.id,
                        'kind': 'service', 'leader': agents[0].id,
                        'members': [('create', [
                                    {'employee': a.id} for a in agents])],
                        }])
            today = dt.date.today()
            Absence.create([{
                        'member': team.members[-1].id,
                        'start_date': today,
                        'end_date': today + dt.timedelta(days=5),
                        }])
            calendar, = Calendar.create([{
                        'name': "Office", 'company': company.id,
                        'timezone': 'Europe/Paris',
                        'intervals': [('create',
                                Calendar.default_intervals())],
                        }])
            policy, = Policy.create([{
                        'name': "Standard", 'company': company.id,
                        'calendar': calendar.id,
                        'response_time': dt.timedelta(hours=4),
                        'resolution_time': dt.timedelta(hours=16),
                        }])
        transaction.commit()
        return (company.id, team.id, [a.id for a in agents], policy.id)


def insert_tickets(database, company, team, agents, policy, now):
    """Insert the open tickets: on track, escalated earlier, newly at risk
    and newly breached; return (expected breached, expected escalations)"""
    risk = int(TICKETS * NEW_RISK)
    breach = int(TICKETS * NEW_BREACH)
    with benchdb.connect(database) as conn:
        conn.execute("""
            INSERT INTO crm_ticket (
                number, subject, company, team, employee, priority,
                channel, state, reported_date, reopened, sla_policy,
                response_deadline, resolution_deadline, sla_risk_date,
                first_response_date, response_breached,
                resolution_breached, sla_paused, sla_escalation,
                create_date, create_uid)
            SELECT
                'B' || i, 'Ticket ' || i, %(company)s, %(team)s,
                (%(agents)s::int[])[1 + i %% %(count)s], '1', 'email',
                CASE WHEN i %% 3 = 0 THEN 'new' ELSE 'open' END,
                %(now)s - interval '1 hour', 0, %(policy)s,
                -- the newly breached ones are past their deadline
                CASE WHEN i <= %(breach)s
                    THEN %(now)s - interval '1 minute'
                    ELSE %(now)s + interval '3 hours' END,
                %(now)s + interval '2 days',
                -- the newly at risk are past their risk date only; the
                -- others were escalated at risk by an earlier sweep or
                -- are not at risk yet
                CASE WHEN i <= %(breach)s + %(risk)s
                    THEN %(now)s - interval '1 minute'
                    WHEN i %% 2 = 0 THEN %(now)s - interval '10 minutes'
                    ELSE %(now)s + interval '1 hour' END,
                NULL, FALSE, FALSE, interval '0',
                CASE WHEN i > %(breach)s + %(risk)s AND i %% 2 = 0
                    THEN 'at_risk' END,
                %(now)s, 0
            FROM generate_series(1, %(tickets)s) AS i
            """, {
                'company': company, 'team': team, 'agents': agents,
                'count': len(agents), 'policy': policy, 'now': now,
                'risk': risk, 'breach': breach, 'tickets': TICKETS,
                })
        conn.execute('ANALYZE crm_ticket')
    return breach, breach + risk


def baseline_sql(cursor, now):
    "The breaches and escalation levels, hand-written"
    running = ("state IN ('new', 'open') AND sla_policy IS NOT NULL")
    cursor.execute(f"""
        UPDATE crm_ticket SET response_breached = TRUE
        WHERE {running} AND first_response_date IS NULL
            AND response_deadline < %s AND NOT response_breached""", (now,))
    cursor.execute(f"""
        UPDATE crm_ticket SET resolution_breached = TRUE
        WHERE {running} AND first_response_date IS NOT NULL
            AND resolution_deadline < %s AND NOT resolution_breached""",
        (now,))
    cursor.execute(f"""
        UPDATE crm_ticket SET sla_escalation = 'breached'
        WHERE {running} AND (response_breached OR resolution_breached)
            AND sla_escalation IS DISTINCT FROM 'breached'""")
    cursor.execute(f"""
        UPDATE crm_ticket SET sla_escalation = 'at_risk'
        WHERE {running} AND sla_risk_date <= %s
            AND sla_escalation IS NULL""", (now,))


def bench_sla_sweep():
    template = benchdb.prepare_template(('crm_service',), kind='svctpl')
    database = benchdb.fresh_database('sla', template)
    company, team, agents, policy = setup(database)
    now = dt.datetime.now().replace(second=0, microsecond=0)
    breach, escalations = insert_tickets(
        database, company, team, agents, policy, now)
    pool = benchdb.pool(database)
    Ticket = pool.get('crm.ticket')
    Notification = pool.get('res.notification')

    with benchdb.transaction(database) as transaction:
        cursor = transaction.connection.cursor()
        with Timer() as baseline:
            baseline_sql(cursor, now)
        transaction.rollback()

    absent = agents[-1]
    with benchdb.transaction(
            database, context={'company': company}) as transaction:
        with Timer() as timer:
            escalated = Ticket.sla_sweep(now)
        cursor = transaction.connection.cursor()
        cursor.execute(
            "SELECT COUNT(*) FILTER (WHERE response_breached), "
            "COUNT(*) FILTER (WHERE sla_escalation = 'breached'), "
            "COUNT(*) FILTER (WHERE sla_escalation = 'at_risk') "
            "FROM crm_ticket")
        breached, level_breached, level_risk = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM crm_ticket "
            "WHERE id = ANY(%s) AND employee = %s",
            (escalated['at_risk'] + escalated['breached'], absent))
        left_to_absent, = cursor.fetchone()
        # the absent agent's escalated tickets spread over the present
        cursor.execute(
            "SELECT employee, COUNT(*) FROM crm_ticket "
            "WHERE id = ANY(%s) AND employee != %s "
            "AND (id - (SELECT MIN(id) FROM crm_ticket) + 1) %% %s = %s "
            "GROUP BY employee",
            (escalated['at_risk'] + escalated['breached'], absent,
                len(agents), len(agents) - 1))
        spread = dict(cursor)
        leader_notified = bool(Notification.search([
                    ('user.employee', '=', agents[0]),
                    ], limit=1))
        transaction.rollback()
    already_at_risk = sum(
        1 for i in range(escalations + 1, TICKETS + 1) if i % 2 == 0)
    correct = (
        breached == breach
        and level_breached == breach
        and level_risk == already_at_risk + (escalations - breach)
        and len(escalated['breached']) == breach
        and len(escalated['at_risk']) == escalations - breach
        and left_to_absent == 0
        and len(spread) == min(len(agents) - 1, sum(spread.values()))
        and max(spread.values(), default=0)
        - min(spread.values(), default=0) <= 1
        and leader_notified)
    return Result(
        'sla_sweep', timer.seconds, 's', baseline=baseline.seconds,
        target=TARGET, correct=correct,
        check=(f"{breach} tickets newly breached and {escalations - breach} "
            "newly at risk escalated, none left to the absent agent, its "
            "tickets spread evenly over the present ones, the leader "
            "notified"),
        detail={
            'tickets': TICKETS, 'escalated': escalations,
            'breached': breached, 'level_breached': level_breached,
            'level_at_risk': level_risk,
            'left_to_absent': left_to_absent,
            'reassigned': sum(spread.values()),
            })
