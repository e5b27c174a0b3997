"""Survey analytics: the distribution of the answers and the NPS with its
confidence interval of one survey of 100k submitted responses (PostgreSQL).

The database `<prefix>_survey_analytics` is a fresh copy of a template with
crm_survey activated (bench/database.py). A company and an open survey (an
NPS, a CSAT, a single choice of three options, a matrix of two rows and a
number question) are created with the ORM; RESPONSES submitted responses
and their answers (six per response) are inserted in SQL.

Figure:
- survey_analytics: crm.survey.distribution and crm.survey.result read
  through the ORM (search and read of every row, the NPS and its interval
  finished in Python) for the survey, against the same figures computed by
  a hand-written SQL query, target 2 s; correct only when every count,
  percentage, mean, minimum and maximum and the NPS with its interval are
  equal.

    CRM_BENCH_PREFIX=bench_survey .venv/bin/python bench/run.py survey
    CRM_BENCH_SURVEY_RESPONSES=10000 ...   # smaller
"""
import math
import os

from bench import database as benchdb
from bench.tools import Result, Timer

RESPONSES = int(os.environ.get('CRM_BENCH_SURVEY_RESPONSES', 100_000))
TARGET = 2.0

#: The hand-written query of the distribution: the answers of the submitted
#: responses counted by question, option and value, over the responses that
#: answered the question (the row of a matrix); the numbers summarised
BASELINE_DISTRIBUTION = """
WITH a AS (
    SELECT a.question, a.option, a.number::INTEGER AS value, a.number,
        a.response, q.type
    FROM crm_survey_answer AS a
    JOIN crm_survey_response AS r ON r.id = a.response
    JOIN crm_survey_question AS q ON q.id = a.question
    WHERE r.state = 'submitted' AND q.survey = %(survey)s
        AND (a.option IS NOT NULL OR a.number IS NOT NULL)),
answered AS (
    SELECT question, CASE WHEN type = 'matrix' THEN option END AS row,
        COUNT(DISTINCT response) AS n
    FROM a GROUP BY 1, 2)
SELECT c.question, c.option, c.value, c.count,
    c.count::FLOAT / d.n, NULL::FLOAT, NULL::FLOAT, NULL::FLOAT
FROM (
    SELECT question, option,
        CASE WHEN type = 'single' OR type = 'multiple' THEN NULL
            ELSE value END AS value,
        CASE WHEN type = 'matrix' THEN option END AS row,
        COUNT(*) AS count
    FROM a WHERE type != 'number' GROUP BY 1, 2, 3, 4) AS c
JOIN answered AS d ON d.question = c.question
    AND d.row IS NOT DISTINCT FROM c.row
UNION ALL
SELECT question, NULL, NULL, COUNT(*), 1.0, AVG(number), MIN(number),
    MAX(number)
FROM a WHERE type = 'number' GROUP BY question
"""
BASELINE_NPS = """
SELECT
    COUNT(*) FILTER (WHERE a.number >= 9),
    COUNT(*) FILTER (WHERE a.number >= 7 AND a.number < 9),
    COUNT(*) FILTER (WHERE a.number < 7)
FROM crm_survey_answer AS a
JOIN crm_survey_response AS r ON r.id = a.response
JOIN crm_survey_question AS q ON q.id = a.question
WHERE r.state = 'submitted' AND q.survey = %(survey)s AND q.type = 'nps'
"""


def setup(database):
    "Create the company and the open survey; return their ids"
    pool = benchdb.pool(database)
    with benchdb.transaction(database) as transaction:
        Survey = pool.get('crm.survey')
        company = benchdb.create_company(pool)
        with transaction.set_context(company=company.id):
            survey, = Survey.create([{
                        'name': "Bench survey",
                        'company': company.id,
                        'questions': [('create', [
                                    {'name': "Recommend?", 'type': 'nps',
                                        'sequence': 10},
                                    {'name': "Satisfied?", 'type': 'csat',
                                        'sequence': 20},
                                    {'name': "Channel", 'type': 'single',
                                        'sequence': 30,
                                        'options': [('create', [
                                                    {'name': "Web"},
                                                    {'name': "Shop"},
                                                    {'name': "Phone"},
                                                    ])]},
                                    {'name': "Courier", 'type': 'matrix',
                                        'sequence': 40,
                                        'options': [('create', [
                                                    {'name': "Polite"},
                                                    {'name': "On time"},
                                                    ])]},
                                    {'name': "Days", 'type': 'number',
                                        'sequence': 50},
                                    ])],
                        }])
            Survey.open([survey])
        transaction.commit()
        return company.id, survey.id


def insert_responses(database, survey):
    "Insert the submitted responses and their answers in SQL"
    with benchdb.connect(database) as conn:
        questions = dict(conn.execute(
                "SELECT type, id FROM crm_survey_question WHERE survey = %s",
                (survey,)).fetchall())
        options = {}
        for type_ in ['single', 'matrix']:
            options[type_] = [r[0] for r in conn.execute(
                    "SELECT id FROM crm_survey_question_option "
                    "WHERE question = %s ORDER BY id",
                    (questions[type_],)).fetchall()]
        conn.execute("""
            INSERT INTO crm_survey_response (survey, state, start_date,
                submit_date, create_date, create_uid)
            SELECT %(survey)s, 'submitted',
                NOW() - (i %% 365) * INTERVAL '1 day',
                NOW() - (i %% 365) * INTERVAL '1 day', NOW(), 0
            FROM generate_series(1, %(responses)s) AS i
            """, {'survey': survey, 'responses': RESPONSES})
        web, shop, phone = options['single']
        polite, on_time = options['matrix']
        # the values vary with the response id, with gaps (no 0 on the NPS
        # of every eleventh, no Phone) so that the zeros count too
        conn.execute("""
            INSERT INTO crm_survey_answer (response, question, option,
                number, create_date, create_uid)
            SELECT r.id, v.question, v.option, v.number, NOW(), 0
            FROM crm_survey_response AS r
            CROSS JOIN LATERAL (VALUES
                (%(nps)s, NULL::INTEGER, ((r.id * 7) %% 11)::FLOAT),
                (%(csat)s, NULL, ((r.id * 3) %% 5 + 1)::FLOAT),
                (%(single)s,
                    CASE WHEN r.id %% 3 = 0 THEN %(web)s
                        ELSE %(shop)s END, NULL),
                (%(matrix)s, %(polite)s, (r.id %% 5 + 1)::FLOAT),
                (%(matrix)s, %(on_time)s, ((r.id / 3) %% 5 + 1)::FLOAT),
                (%(number)s, NULL, (r.id %% 60)::FLOAT / 4)
                ) AS v (question, option, number)
            WHERE r.survey = %(survey)s
                AND (v.question != %(number)s OR r.id %% 10 != 0)
            """, dict(questions, survey=survey, web=web, shop=shop,
                polite=polite, on_time=on_time))
        # as autovacuum would: the planner needs the number of questions to
        # expect the many answers of the survey
        for table in ['crm_survey', 'crm_survey_question',
                'crm_survey_question_option', 'crm_survey_invitation',
                'crm_survey_response', 'crm_survey_answer']:
            conn.execute(f'ANALYZE {table}')


def nps(promoters, passives, detractors):
    "The NPS and its interval as the documentation of crm_survey says"
    n = promoters + passives + detractors
    p_p, p_d = promoters / n, detractors / n
    score = 100 * (p_p - p_d)
    margin = 1.96 * 100 * math.sqrt((p_p + p_d - (p_p - p_d) ** 2) / n)
    return (score, max(score - margin, -100), min(score + margin, 100))


def _rounded(row):
    return tuple(round(v, 6) if isinstance(v, float) else v for v in row)


def bench_survey_analytics():
    template = benchdb.prepare_template(('crm_survey',), kind='svytpl')
    database = benchdb.fresh_database('survey_analytics', template)
    company, survey = setup(database)
    insert_responses(database, survey)
    pool = benchdb.pool(database)
    Distribution = pool.get('crm.survey.distribution')
    SurveyResult = pool.get('crm.survey.result')
    context = {'company': company, 'survey': survey}

    with benchdb.transaction(database) as transaction:
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT COUNT(*) FROM crm_survey_answer')
        answers, = cursor.fetchone()
        with Timer() as baseline:
            cursor.execute(BASELINE_DISTRIBUTION, {'survey': survey})
            expected = sorted(_rounded(
                    (q, o, v, c, p, m, lo, hi))
                for q, o, v, c, p, m, lo, hi in cursor.fetchall())
            cursor.execute(BASELINE_NPS, {'survey': survey})
            expected_nps = nps(*cursor.fetchone())
        transaction.rollback()

    def analytics():
        rows = Distribution.search_read([], fields_names=[
                'question', 'option', 'value', 'count', 'percentage',
                'mean', 'minimum', 'maximum', 'answer'])
        result, = SurveyResult.search_read([], fields_names=[
                'promoters', 'passives', 'detractors', 'nps', 'nps_low',
                'nps_high', 'csat_rate', 'response_rate'])
        return rows, result

    with benchdb.transaction(database, context=context):
        # the first read warms the caches of the pool and of the server
        analytics()
    with benchdb.transaction(database, context=context):
        with Timer() as timer:
            rows, result = analytics()
    # the cells nobody chose (the zeros) are not in the baseline's rows
    got = sorted(_rounded((r['question'], r['option'], r['value'],
                r['count'], r['percentage'], r['mean'], r['minimum'],
                r['maximum'])) for r in rows if r['count'])
    got_nps = (result['nps'], result['nps_low'], result['nps_high'])
    correct = (got == expected
        and all(math.isclose(a, b) for a, b in zip(got_nps, expected_nps)))
    return Result(
        'survey_analytics', timer.seconds, 's', baseline=baseline.seconds,
        target=TARGET, correct=correct,
        check=("every count, share, mean, minimum and maximum of the "
            "distribution and the NPS with its interval equal to the "
            "hand-written SQL"),
        detail={'responses': RESPONSES, 'answers': answers,
            'rows': len(rows), 'nps': round(result['nps'], 2),
            'nps_interval': [round(result['nps_low'], 2),
                round(result['nps_high'], 2)]})
