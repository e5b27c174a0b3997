"""Surveys: 10,000 parties invited to a survey by e-mail (PostgreSQL).

The database `<prefix>_survey_invite` is a fresh copy of a template with
crm_survey activated (bench/database.py). A company and two open surveys are
created with the ORM; PARTIES parties, each with an e-mail address and in
one party category, are inserted in SQL.

Figures (target 30 s, the issue's):
- survey_invite: the *Invite* wizard (crm.survey.invite) run by the admin
  from a survey on the party category: its session created, its start
  state read, its *Invite* transition executed (the invitations inserted in
  one INSERT … SELECT, their creation hooks called, their e-mails queued in
  tasks of 100) and committed. The baseline is a hand-written INSERT …
  SELECT of the same rows (party, e-mail, state) alone: no check of the
  open invitations, no hooks, no queue, rolled back.
- survey_invite_selected: the same from the list of parties, the PARTIES
  parties selected (their ids in the wizard's session), on the second
  survey; same baseline.
Correct when the survey has PARTIES invitations of PARTIES distinct
parties, each with its party's address, every one in exactly one queued
task (PARTIES / 100 tasks) and the wizard run again invites nobody.

    CRM_BENCH_PREFIX=bench_survey .venv/bin/python bench/run.py survey_invite
    CRM_BENCH_SURVEY_PARTIES=1000 ...   # smaller
"""
import os

from bench import database as benchdb
from bench.tools import Result, Timer

PARTIES = int(os.environ.get('CRM_BENCH_SURVEY_PARTIES', 10_000))
TARGET = 30.0
ADMIN = 1


def setup(database):
    "Create the company, two open surveys and the party category"
    pool = benchdb.pool(database)
    with benchdb.transaction(database) as transaction:
        Survey = pool.get('crm.survey')
        Category = pool.get('party.category')
        company = benchdb.create_company(pool)
        with transaction.set_context(company=company.id):
            surveys = Survey.create([{
                        'name': name, 'company': company.id,
                        'questions': [('create', [{
                                        'name': "How likely are you to "
                                        "recommend us?", 'type': 'nps'}])],
                        } for name in ["Bench survey", "Bench survey 2"]])
            Survey.open(surveys)
        category, = Category.create([{'name': "Bench customers"}])
        transaction.commit()
        return company.id, [s.id for s in surveys], category.id


def insert_parties(database, pool, category):
    "Insert the parties, their e-mail addresses and their category"
    Party = pool.get('party.party')
    Mechanism = pool.get('party.contact_mechanism')
    PartyCategory = pool.get('party.party-party.category')
    with benchdb.connect(database) as conn:
        conn.execute(f"""
            INSERT INTO "{Party._table}" (name, code, active, create_date,
                create_uid)
            SELECT 'Customer ' || i, 'SV' || i, TRUE, NOW(), 0
            FROM generate_series(1, %(parties)s) AS i
            """, {'parties': PARTIES})
        conn.execute(f"""
            INSERT INTO "{Mechanism._table}" (party, type, value, active,
                create_date, create_uid)
            SELECT id, 'email', 'customer' || id || '@example.com', TRUE,
                NOW(), 0
            FROM "{Party._table}" WHERE code LIKE 'SV%%'
            """)
        conn.execute(f"""
            INSERT INTO "{PartyCategory._table}" (party, category,
                create_date, create_uid)
            SELECT id, %(category)s, NOW(), 0
            FROM "{Party._table}" WHERE code LIKE 'SV%%'
            """, {'category': category})
        for Model in [Party, Mechanism, PartyCategory]:
            conn.execute(f'ANALYZE "{Model._table}"')


def baseline(database, pool, survey, category):
    "Time the hand-written INSERT … SELECT of the same rows, rolled back"
    Invitation = pool.get('crm.survey.invitation')
    Mechanism = pool.get('party.contact_mechanism')
    PartyCategory = pool.get('party.party-party.category')
    with benchdb.transaction(database) as transaction:
        cursor = transaction.connection.cursor()
        with Timer() as timer:
            cursor.execute(f"""
                INSERT INTO "{Invitation._table}" (survey, party, email,
                    state, create_uid, create_date)
                SELECT %s, r.party, (SELECT m.value
                        FROM "{Mechanism._table}" AS m
                        WHERE m.party = r.party AND m.type = 'email'
                        ORDER BY m.sequence, m.id LIMIT 1),
                    'draft', %s, NOW()
                FROM "{PartyCategory._table}" AS r
                WHERE r.category = %s""", (survey, ADMIN, category))
        transaction.rollback()
    return timer.seconds


def run_wizard(database, pool, company, active_model, active_ids, start):
    """Run the wizard as the admin from the records and commit; return the
    seconds and its result (invited, skipped)"""
    Invite = pool.get('crm.survey.invite', type='wizard')
    context = {
        'company': company,
        'active_model': active_model,
        'active_id': active_ids[0],
        'active_ids': active_ids,
        }
    with benchdb.transaction(
            database, user=ADMIN, context=context) as transaction:
        with Timer() as timer:
            session_id, _, _ = Invite.create()
            defaults = Invite.execute(session_id, {}, 'start')[
                'view']['defaults']
            values = {
                'survey': start.get('survey', defaults.get('survey')),
                'parties': start.get('parties', defaults.get('parties', [])),
                'categories': start.get('categories', []),
                }
            result = Invite.execute(session_id, {'start': values}, 'invite')
            done = result['view']['defaults']
            Invite.delete(session_id)
            transaction.commit()
    return timer.seconds, (done['invited'], done['skipped'])


def check(database, pool, survey):
    """Return (correct, details) of the invitations and queued tasks of the
    survey"""
    Invitation = pool.get('crm.survey.invitation')
    Mechanism = pool.get('party.contact_mechanism')
    Queue = pool.get('ir.queue')
    with benchdb.transaction(database) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute(f"""
            SELECT COUNT(*), COUNT(DISTINCT i.party),
                COUNT(*) FILTER (WHERE i.email = m.value
                    AND i.state = 'draft')
            FROM "{Invitation._table}" AS i
            JOIN "{Mechanism._table}" AS m ON m.party = i.party
            WHERE i.survey = %s""", (survey,))
        count, parties, right = cursor.fetchone()
        cursor.execute(f'SELECT id FROM "{Invitation._table}" '
            'WHERE survey = %s', (survey,))
        ids = {i for i, in cursor}
        queued = []
        tasks = 0
        for task in Queue.search([('finished_at', '=', None)]):
            if (task.data['model'] == 'crm.survey.invitation'
                    and task.data['method'] == 'deliver_queued'):
                instances = set(task.data['instances'])
                if instances & ids:
                    tasks += 1
                    queued.extend(instances)
        transaction.rollback()
    correct = (count == parties == right == PARTIES
        and len(queued) == len(set(queued)) == PARTIES
        and set(queued) == ids)
    return correct, {'invitations': count, 'parties': parties,
        'queued': len(queued), 'tasks': tasks}


def bench_survey_invite():
    template = benchdb.prepare_template(('crm_survey',), kind='svtpl')
    database = benchdb.fresh_database('survey_invite', template)
    company, (survey, survey2), category = setup(database)
    pool = benchdb.pool(database)
    insert_parties(database, pool, category)
    results = []

    base = baseline(database, pool, survey, category)
    seconds, (invited, skipped) = run_wizard(
        database, pool, company, 'crm.survey', [survey],
        {'categories': [category]})
    again, (invited_again, _) = run_wizard(
        database, pool, company, 'crm.survey', [survey],
        {'categories': [category]})
    correct, detail = check(database, pool, survey)
    results.append(Result(
            'survey_invite', seconds, 's', baseline=base, target=TARGET,
            correct=correct and invited == PARTIES and not skipped
            and not invited_again,
            check=("one invitation per party with its address, each in "
                "one queued task of 100, none made by a second run"),
            detail={**detail, 'invited': invited, 'skipped': skipped,
                'second_run_s': round(again, 2),
                'second_run_invited': invited_again}))

    with benchdb.transaction(database):
        Party = pool.get('party.party')
        party_ids = [p.id for p in Party.search(
                [('code', 'like', 'SV%')], order=[('id', 'ASC')])]
    base = baseline(database, pool, survey2, category)
    seconds, (invited, skipped) = run_wizard(
        database, pool, company, 'party.party', party_ids,
        {'survey': survey2})
    correct, detail = check(database, pool, survey2)
    results.append(Result(
            'survey_invite_selected', seconds, 's', baseline=base,
            target=TARGET,
            correct=correct and invited == PARTIES and not skipped,
            check=("one invitation per selected party with its address, "
                "each in one queued task of 100"),
            detail={**detail, 'invited': invited, 'skipped': skipped}))
    return results
