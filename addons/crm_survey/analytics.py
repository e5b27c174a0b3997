# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The analytics of the surveys, the closed loop and the 360° view

- the distribution of the answers of each question, the results of each
  survey (response rate, Net Promoter Score with its confidence interval,
  CSAT) and their trends by period and team: reporting models computed
  set-based in SQL over the answers of the submitted responses;
- the closed loop: a detractor (or an unhappy CSAT or rating) gets a
  follow-up activity for the party's owner, once per response;
- the 360° view: the latest NPS and CSAT of a party, its responses, the
  timeline source and the health component;
- the export of the raw responses of a survey to a spreadsheet."""
import datetime as dt
import io
import math
import re

from sql import Cast, Literal, Null, Union, Values, Window, With
from sql.aggregate import Count, Max, Min, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import RowNumber
from sql.operators import Concat

from trytond import backend
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.modules.crm_core.access import read_domain
from trytond.modules.crm_core.dbtools import PERIODS, period_start
from trytond.modules.crm_core.party import NEUTRAL, HealthComponent
from trytond.modules.crm_core.reporting import ReportingDatesMixin
from trytond.modules.crm_core.timeline import (
    DateOf, TimelineSource, reference, typed)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.report import Report
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

#: The NPS answers of the promoters and at least of the passives
NPS_PROMOTER = 9
NPS_PASSIVE = 7
#: The CSAT answers (1 to 5) counted as satisfied
CSAT_SATISFIED = 4
#: The normal quantile of a 95% confidence interval
Z_95 = 1.96
#: Below this many answers the normal approximation of the interval is poor
MIN_SAMPLE = 30
#: The values of the scale questions, and the columns of a matrix
SCALE_VALUES = (
    [('nps', v) for v in range(0, 11)]
    + [(t, v) for t in ('rating', 'csat', 'matrix') for v in range(1, 6)])
#: The kinds of rows of the distribution, the last digits of their ids
_CELL_OPTION, _CELL_SCALE, _CELL_NUMBER = 0, 1, 2


def nps_interval(promoters, passives, detractors):
    """Return (n, NPS, low, high) of the counts: the score from -100 to 100
    and its 95% confidence interval by the normal approximation

    With p_P and p_D the shares of promoters and detractors among the n
    answers, NPS = 100 (p_P - p_D); the score is the mean of a variable
    worth 1 (promoter), 0 (passive) or -1 (detractor), whose variance is
    p_P + p_D - (p_P - p_D)², so the interval is
    NPS ± 1.96 · 100 · √(var / n), clamped to -100…100."""
    promoters, passives, detractors = (
        int(promoters or 0), int(passives or 0), int(detractors or 0))
    n = promoters + passives + detractors
    if not n:
        return 0, None, None, None
    p_p, p_d = promoters / n, detractors / n
    score = 100 * (p_p - p_d)
    variance = max(p_p + p_d - (p_p - p_d) ** 2, 0)
    margin = Z_95 * 100 * math.sqrt(variance / n)
    return n, score, max(score - margin, -100), min(score + margin, 100)


def in_ids(column, ids):
    "The condition of the column in the ids"
    return fields.SQL_OPERATORS['in'](column, ids)


def _count(condition):
    return Sum(Case((condition, Literal(1)), else_=Literal(0)))


def score_columns(question, answer):
    """Return {name: SQL aggregate} of the NPS and CSAT counts of the answers
    joined to their question"""
    nps = question.type == 'nps'
    csat = question.type == 'csat'
    return {
        'promoters': _count(nps & (answer.number >= NPS_PROMOTER)),
        'passives': _count(nps & (answer.number >= NPS_PASSIVE)
            & (answer.number < NPS_PROMOTER)),
        'detractors': _count(nps & (answer.number < NPS_PASSIVE)),
        'csat_answers': _count(csat),
        'csat_satisfied': _count(csat & (answer.number >= CSAT_SATISFIED)),
        }


class AnalyticsContext(ReportingDatesMixin, ModelView):
    __name__ = 'crm.survey.analytics.context'
    __string__ = "Survey Analytics Context"

    survey = fields.Many2One(
        'crm.survey', "Survey",
        domain=[('company', '=', Eval('company', -1))],
        help="Only this survey; every survey of the company when empty.")
    question = fields.Many2One(
        'crm.survey.question', "Question",
        domain=[
            ('survey', '=', Eval('survey', -1)),
            ('type', '!=', 'section'),
            ],
        states={
            'invisible': ~Eval('survey'),
            },
        help="Only this question of the survey.")
    period = fields.Selection([
            ('day', "Day"),
            ('week', "Week"),
            ('month', "Month"),
            ('quarter', "Quarter"),
            ('year', "Year"),
            ], "Period", required=True)

    @classmethod
    def default_survey(cls):
        return Transaction().context.get('survey')

    @classmethod
    def default_question(cls):
        return Transaction().context.get('question')

    @classmethod
    def default_period(cls):
        return Transaction().context.get('period', 'month')

    @fields.depends('survey', 'question')
    def on_change_survey(self):
        if self.question and self.question.survey != self.survey:
            self.question = None


class _Analytics(ModelSQL, ModelView):
    "The submitted responses of the surveys of the context"

    company = fields.Many2One('company.company', "Company")
    survey = fields.Many2One('crm.survey', "Survey")

    # The fields exported to XLSX, in order
    _xlsx_fields = []
    _xlsx_date_format = 'yyyy-mm-dd'

    @classmethod
    def _survey_where(cls, survey):
        "The condition on the survey table of the context"
        context = Transaction().context
        where = survey.company == context.get('company', -1)
        if context.get('survey'):
            where &= survey.id == context['survey']
        return where

    @classmethod
    def _dates_where(cls, column):
        "The condition of the timestamp column in the context's dates"
        context = Transaction().context
        where = Literal(True)
        if context.get('from_date'):
            where &= column >= dt.datetime.combine(
                context['from_date'], dt.time.min)
        if context.get('to_date'):
            where &= column < dt.datetime.combine(
                context['to_date'] + dt.timedelta(days=1), dt.time.min)
        return where

    @classmethod
    def _response_where(cls, response):
        "The submitted responses of the context's dates"
        return ((response.state == 'submitted')
            & cls._dates_where(response.submit_date))

    @classmethod
    def _period(cls):
        period = Transaction().context.get('period')
        return period if period in PERIODS else 'month'


class ScoreMixin:
    "The NPS and CSAT of counts of answers"
    __slots__ = ()

    promoters = fields.Integer(
        "Promoters", help="The NPS answers of 9 and 10.")
    passives = fields.Integer("Passives", help="The NPS answers of 7 and 8.")
    detractors = fields.Integer(
        "Detractors", help="The NPS answers from 0 to 6.")
    nps = fields.Function(fields.Float(
            "NPS", digits=(3, 1),
            help="The Net Promoter Score: the share of promoters less the "
            "share of detractors, from -100 to 100."),
        'get_score')
    nps_low = fields.Function(fields.Float(
            "NPS Low", digits=(3, 1),
            help="The lower bound of the 95% confidence interval of the "
            "NPS."),
        'get_score')
    nps_high = fields.Function(fields.Float(
            "NPS High", digits=(3, 1),
            help="The upper bound of the 95% confidence interval of the "
            "NPS."),
        'get_score')
    nps_sample = fields.Function(fields.Char(
            "NPS Sample",
            help="Whether there are enough answers for the interval."),
        'get_score')
    csat_answers = fields.Integer("CSAT Answers")
    csat_satisfied = fields.Integer(
        "Satisfied", help="The CSAT answers of 4 and 5.")
    csat_rate = fields.Function(fields.Float(
            "CSAT", digits=(1, 4),
            help="The share of the CSAT answers of 4 and 5."),
        'get_score')

    @classmethod
    def get_score(cls, records, names):
        result = {n: {} for n in names}
        for record in records:
            n, score, low, high = nps_interval(
                record.promoters, record.passives, record.detractors)
            values = {
                'nps': score,
                'nps_low': low,
                'nps_high': high,
                'nps_sample': (
                    gettext('crm_survey.msg_nps_sample_small', n=n)
                    if n < MIN_SAMPLE else
                    gettext('crm_survey.msg_nps_sample', n=n)) if n else None,
                'csat_rate': (record.csat_satisfied / record.csat_answers
                    if record.csat_answers else None),
                }
            for name in names:
                result[name][record.id] = values[name]
        return result


class Distribution(_Analytics):
    """How the submitted responses answered each question: how many chose
    each option, gave each value of a scale (each column of each row of a
    matrix), and the mean, least and greatest of the numbers."""
    __name__ = 'crm.survey.distribution'
    __string__ = "Survey Answer Distribution"

    question = fields.Many2One('crm.survey.question', "Question")
    question_type = fields.Selection(
        'get_question_types', "Question Type")
    sequence = fields.Integer("Sequence")
    option = fields.Many2One(
        'crm.survey.question.option', "Option",
        help="The option chosen, or the row of a matrix.")
    value = fields.Integer(
        "Value", help="The value of a scale, or the column of a matrix.")
    answer = fields.Function(fields.Char("Answer"), 'get_answer')
    count = fields.Integer("Count")
    answered = fields.Integer(
        "Answered",
        help="The responses that answered the question (the row of a "
        "matrix).")
    percentage = fields.Float(
        "Percentage", digits=(1, 4),
        help="The share of the responses that answered the question (the "
        "row) that gave this answer.")
    mean = fields.Float("Mean", digits=(16, 2))
    minimum = fields.Float("Minimum")
    maximum = fields.Float("Maximum")

    _xlsx_fields = [
        'survey', 'question', 'answer', 'count', 'answered', 'percentage',
        'mean', 'minimum', 'maximum']

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('survey', 'DESC'),
            ('sequence', 'ASC NULLS FIRST'),
            ('question', 'ASC'),
            ('option.sequence', 'ASC NULLS FIRST'),
            # the ids of the rows of a question follow the options (the rows
            # of a matrix) and the values
            ('id', 'ASC'),
            ]

    @classmethod
    def get_question_types(cls):
        pool = Pool()
        Question = pool.get('crm.survey.question')
        return Question.fields_get(['type'])['type']['selection']

    @classmethod
    def table_query(cls):
        pool = Pool()
        Survey = pool.get('crm.survey')
        Question = pool.get('crm.survey.question')
        Option = pool.get('crm.survey.question.option')
        Response = pool.get('crm.survey.response')
        Answer = pool.get('crm.survey.answer')
        context = Transaction().context
        survey = Survey.__table__()
        question = Question.__table__()
        option = Option.__table__()
        response = Response.__table__()
        answer = Answer.__table__()
        multiple = Answer.__table__()
        scale = Values(SCALE_VALUES)
        scale_type, scale_value = scale.column1, scale.column2

        where = cls._survey_where(survey)
        if context.get('question'):
            where &= question.id == context['question']
        questions = survey.join(question,
            condition=question.survey == survey.id)
        question_ids = questions.select(question.id, where=where)

        # The answers of the submitted responses counted by question, option
        # and number: the one pass over the answers, which the rest reads
        # (joined to the questions of the context rather than tested IN
        # them: the planner then expects the many answers and hashes the
        # responses)
        counts = With(query=questions.join(answer,
                condition=answer.question == question.id
                ).join(response, condition=answer.response == response.id
                ).select(
                    answer.question.as_('question'),
                    question.type.as_('type'),
                    answer.option.as_('option'),
                    answer.number.as_('number'),
                    Count().as_('count'),
                    where=where & cls._response_where(response)
                    & ((answer.option != Null) | (answer.number != Null)),
                    group_by=[
                        answer.question, question.type, answer.option,
                        answer.number]))
        # The responses that answered each question (each row of a matrix):
        # one answer per response but for the multiple choices
        rows = counts.select(
            counts.question.as_('question'),
            Case((counts.type == 'matrix', counts.option),
                else_=Null).as_('row'),
            counts.count.as_('count'),
            where=~counts.type.in_(['multiple', 'number']))
        answered = Union(
            rows.select(
                rows.question, rows.row, Sum(rows.count).as_('answered'),
                group_by=[rows.question, rows.row]),
            multiple.join(response,
                condition=multiple.response == response.id
                ).join(question, condition=multiple.question == question.id
                ).select(
                    multiple.question.as_('question'),
                    typed(None, 'INTEGER').as_('row'),
                    Count(multiple.response, distinct=True).as_('answered'),
                    where=cls._response_where(response)
                    & (question.type == 'multiple')
                    & multiple.question.in_(question_ids),
                    group_by=[multiple.question]),
            all_=True)

        def cell(
                types, from_, id_, option_column, value_column, kind,
                row_column):
            return from_.join(counts, 'LEFT',
                condition=(counts.question == question.id)
                & (Coalesce(counts.option, 0) == Coalesce(option_column, 0))
                & (Coalesce(counts.number, -1)
                    == Coalesce(value_column, -1))
                ).join(answered, 'LEFT',
                condition=(answered.question == question.id)
                & (Coalesce(answered.row, 0) == Coalesce(row_column, 0))
                ).select(
                    (id_ * 4 + kind).as_('id'),
                    survey.company.as_('company'),
                    survey.id.as_('survey'),
                    question.id.as_('question'),
                    question.type.as_('question_type'),
                    question.sequence.as_('sequence'),
                    option_column.as_('option'),
                    value_column.as_('value'),
                    Coalesce(counts.count, 0).as_('count'),
                    Coalesce(answered.answered, 0).as_('answered'),
                    typed(None, 'FLOAT').as_('mean'),
                    typed(None, 'FLOAT').as_('minimum'),
                    typed(None, 'FLOAT').as_('maximum'),
                    where=where & question.type.in_(types))

        # The options of the choices
        choices = cell(['single', 'multiple'], questions.join(option,
                condition=option.question == question.id),
            option.id * 16, option.id, typed(None, 'INTEGER'), _CELL_OPTION,
            typed(None, 'INTEGER'))
        # The values of the scales
        scales = cell(['rating', 'nps', 'csat'], questions.join(scale,
                condition=scale_type == question.type),
            question.id * 16 + scale_value, typed(None, 'INTEGER'),
            scale_value, _CELL_SCALE, typed(None, 'INTEGER'))
        # The columns of the rows of the matrices
        matrices = cell(['matrix'], questions.join(option,
                condition=option.question == question.id
                ).join(scale, condition=scale_type == question.type),
            option.id * 16 + scale_value, option.id, scale_value,
            _CELL_OPTION, option.id)
        # The numbers
        total = Sum(counts.count)
        numbers = counts.join(question,
            condition=counts.question == question.id
            ).join(survey, condition=question.survey == survey.id
            ).select(
                (Min(question.id) * 4 + _CELL_NUMBER).as_('id'),
                survey.company.as_('company'),
                survey.id.as_('survey'),
                question.id.as_('question'),
                question.type.as_('question_type'),
                question.sequence.as_('sequence'),
                typed(None, 'INTEGER').as_('option'),
                typed(None, 'INTEGER').as_('value'),
                total.as_('count'),
                total.as_('answered'),
                (Sum(counts.number * counts.count) / total).as_('mean'),
                Min(counts.number).as_('minimum'),
                Max(counts.number).as_('maximum'),
                where=(counts.type == 'number') & (counts.number != Null),
                group_by=[
                    survey.company, survey.id, question.id, question.type,
                    question.sequence])
        union = Union(choices, scales, matrices, numbers, all_=True)
        return union.select(
            union.id, union.company, union.survey, union.question,
            union.question_type, union.sequence, union.option,
            union.value,
            cls.count.sql_cast(union.count).as_('count'),
            cls.answered.sql_cast(union.answered).as_('answered'),
            cls.percentage.sql_cast(Case((union.answered > 0,
                        cls.percentage.sql_cast(union.count)
                        / union.answered), else_=Null)).as_('percentage'),
            cls.mean.sql_cast(union.mean).as_('mean'),
            cls.minimum.sql_cast(union.minimum).as_('minimum'),
            cls.maximum.sql_cast(union.maximum).as_('maximum'),
            with_=[counts])

    def get_answer(self, name):
        if self.question_type == 'matrix' and self.option:
            return f'{self.option.rec_name}: {self.value}'
        if self.option:
            return self.option.rec_name
        if self.value is not None:
            return str(self.value)
        if self.question_type == 'number':
            return gettext('crm_survey.msg_distribution_numbers')


class Result(ScoreMixin, _Analytics):
    """The results of each survey: its response rate, Net Promoter Score
    with its confidence interval, and CSAT."""
    __name__ = 'crm.survey.result'
    __string__ = "Survey Results"

    invited = fields.Integer(
        "Invited", help="The invitations sent in the period.")
    responded = fields.Integer(
        "Responded",
        help="The invitations sent in the period whose response is "
        "submitted.")
    response_rate = fields.Float(
        "Response Rate", digits=(1, 4),
        help="The responses submitted for the invitations sent.")
    submitted = fields.Integer(
        "Responses", help="The responses submitted in the period.")

    _xlsx_fields = [
        'survey', 'invited', 'responded', 'response_rate', 'submitted',
        'promoters', 'passives', 'detractors', 'nps', 'nps_low', 'nps_high',
        'csat_answers', 'csat_satisfied', 'csat_rate']

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('survey', 'DESC'), ('id', 'DESC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Survey = pool.get('crm.survey')
        Question = pool.get('crm.survey.question')
        Invitation = pool.get('crm.survey.invitation')
        Response = pool.get('crm.survey.response')
        Answer = pool.get('crm.survey.answer')
        survey = Survey.__table__()
        question = Question.__table__()
        invitation = Invitation.__table__()
        response = Response.__table__()
        responded = Response.__table__()
        answer = Answer.__table__()

        surveys = survey.select(survey.id, where=cls._survey_where(survey))
        # The invitations sent in the period and those answered
        where = ((invitation.sent_date != Null)
            & invitation.survey.in_(surveys)
            & cls._dates_where(invitation.sent_date))
        invitations = invitation.join(responded, 'LEFT',
            condition=(responded.invitation == invitation.id)
            & (responded.state == 'submitted')
            ).select(
                invitation.survey.as_('survey'),
                Count(invitation.id).as_('invited'),
                Count(responded.id).as_('responded'),
                where=where,
                group_by=[invitation.survey])

        responses = response.select(
            response.survey.as_('survey'),
            Count(response.id).as_('submitted'),
            where=cls._response_where(response)
            & response.survey.in_(surveys),
            group_by=[response.survey])

        scores = score_columns(question, answer)
        answers = answer.join(question,
            condition=answer.question == question.id
            ).join(response, condition=answer.response == response.id
            ).select(
                question.survey.as_('survey'),
                *(c.as_(n) for n, c in scores.items()),
                where=question.type.in_(['nps', 'csat'])
                & question.survey.in_(surveys)
                & cls._response_where(response),
                group_by=[question.survey])

        invited = Coalesce(invitations.invited, 0)
        return survey.join(invitations, 'LEFT',
            condition=invitations.survey == survey.id
            ).join(responses, 'LEFT',
            condition=responses.survey == survey.id
            ).join(answers, 'LEFT',
            condition=answers.survey == survey.id
            ).select(
                survey.id.as_('id'),
                survey.company.as_('company'),
                survey.id.as_('survey'),
                invited.as_('invited'),
                Coalesce(invitations.responded, 0).as_('responded'),
                cls.response_rate.sql_cast(Case((invited > 0,
                            cls.response_rate.sql_cast(
                                invitations.responded) / invited),
                        else_=Null)).as_('response_rate'),
                Coalesce(responses.submitted, 0).as_('submitted'),
                *(Coalesce(getattr(answers, n), 0).as_(n) for n in scores),
                where=cls._survey_where(survey))


class Trend(ScoreMixin, _Analytics):
    """The responses of each survey by period and team, with their NPS and
    CSAT."""
    __name__ = 'crm.survey.trend'
    __string__ = "Survey Trends"

    date = fields.Date("Date", help="The first day of the period.")
    team = fields.Many2One(
        'crm.team', "Team",
        help="The team of the record the invitation is about.")
    submitted = fields.Integer("Responses")

    _xlsx_fields = [
        'date', 'survey', 'team', 'submitted', 'promoters', 'passives',
        'detractors', 'nps', 'nps_low', 'nps_high', 'csat_answers',
        'csat_satisfied', 'csat_rate']

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('date', 'ASC'),
            ('survey', 'DESC'),
            ('team', 'ASC NULLS FIRST'),
            ('id', 'ASC'),
            ]

    @classmethod
    def _origin_teams(cls):
        """Return [(model, table)] of the models an invitation may be about
        whose table has a team column: their team is the team of the
        responses to the invitation

        Glue modules add theirs (crm_service: the tickets)."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        return [('sale.opportunity', Opportunity.__table__())]

    @classmethod
    def _from_item(cls, tables):
        "Join the origins of the invitations to the responses"
        response, invitation = tables['response'], tables['invitation']
        from_ = response.join(invitation, 'LEFT',
            condition=response.invitation == invitation.id)
        for model, table in cls._origin_teams():
            tables[model] = table
            from_ = from_.join(table, 'LEFT',
                condition=invitation.origin == Concat(
                    model + ',', Cast(table.id, 'VARCHAR')))
        return from_

    @classmethod
    def _group_columns(cls, tables):
        """Return {name: column} of the dimensions of the trends; glue
        modules may add theirs (with the field)"""
        teams = [tables[m].team for m, _ in cls._origin_teams()]
        team = (teams[0] if len(teams) == 1
            else Coalesce(*teams) if teams else typed(None, 'INTEGER'))
        return {
            'company': tables['survey'].company,
            'survey': tables['response'].survey,
            'date': cls.date.sql_cast(period_start(
                    cls._period(), tables['response'].submit_date)),
            'team': team,
            }

    @classmethod
    def table_query(cls):
        pool = Pool()
        Survey = pool.get('crm.survey')
        Question = pool.get('crm.survey.question')
        Invitation = pool.get('crm.survey.invitation')
        Response = pool.get('crm.survey.response')
        Answer = pool.get('crm.survey.answer')
        survey = Survey.__table__()
        question = Question.__table__()
        response = Response.__table__()
        answer = Answer.__table__()
        tables = {
            'survey': survey,
            'response': response,
            'invitation': Invitation.__table__(),
            }
        from_ = cls._from_item(tables).join(survey,
            condition=response.survey == survey.id)
        groups = cls._group_columns(tables)
        scored = answer.join(question,
            condition=answer.question == question.id)
        scores = score_columns(question, answer)
        # The NPS and CSAT counts of each response
        per_response = scored.select(
            answer.response.as_('response'),
            *(c.as_(n) for n, c in scores.items()),
            where=question.type.in_(['nps', 'csat']),
            group_by=[answer.response])
        from_ = from_.join(per_response, 'LEFT',
            condition=per_response.response == response.id)
        # One row per response, grouped by the names of its dimensions: a
        # parameter repeated in GROUP BY does not match the one in the
        # select list on PostgreSQL
        rows = from_.select(
            response.id.as_('response'),
            *(c.as_(n) for n, c in groups.items()),
            *(Coalesce(getattr(per_response, n), 0).as_(n) for n in scores),
            where=cls._survey_where(survey) & cls._response_where(response))
        columns = [getattr(rows, n) for n in groups]
        return rows.select(
            Min(rows.response).as_('id'),
            *columns,
            Count(rows.response).as_('submitted'),
            # a sum of bigints is a numeric on PostgreSQL
            *(getattr(cls, n).sql_cast(Sum(getattr(rows, n))).as_(n)
                for n in scores),
            group_by=columns)


class Response(metaclass=PoolMeta):
    __name__ = 'crm.survey.response'

    follow_ups = fields.One2Many(
        'crm.activity', 'resource', "Follow-ups", readonly=True,
        help="The activity planned when the response gave a low score.")

    @classmethod
    def on_modification(cls, mode, responses, field_names=None):
        super().on_modification(mode, responses, field_names=field_names)
        if mode == 'write' and 'state' in (field_names or ()):
            cls.survey_follow_up(
                [r for r in responses if r.state == 'submitted'])

    @classmethod
    def _follow_up_clause(cls, question, answer, configuration):
        """Return the SQL condition on the answers that asks for a
        follow-up, or None"""
        clauses = []
        if configuration.survey_follow_up_nps is not None:
            clauses.append((question.type == 'nps')
                & (answer.number <= configuration.survey_follow_up_nps))
        if configuration.survey_follow_up_score is not None:
            clauses.append(question.type.in_(['csat', 'rating'])
                & (answer.number <= configuration.survey_follow_up_score))
        clause = None
        for other in clauses:
            clause = other if clause is None else clause | other
        return clause

    @classmethod
    def survey_follow_up(cls, responses):
        """Plan a follow-up activity for each submitted response with a low
        score, once per response

        Run as root with the company of the survey: the public answer page
        submits as the anonymous user of the route."""
        pool = Pool()
        Activity = pool.get('crm.activity')
        Answer = pool.get('crm.survey.answer')
        Question = pool.get('crm.survey.question')
        Configuration = pool.get('crm.configuration')
        IrConfiguration = pool.get('ir.configuration')
        Date = pool.get('ir.date')
        responses = [r for r in responses if r.party and r.survey]
        if not responses:
            return
        with without_check_access():
            configuration = Configuration(1)
            answer = Answer.__table__()
            question = Question.__table__()
            clause = cls._follow_up_clause(question, answer, configuration)
            if clause is None:
                return
            cursor = Transaction().connection.cursor()
            low = {}
            for sub_ids in grouped_slice(
                    [r.id for r in responses], backend.MAX_QUERY_PARAMS):
                cursor.execute(*answer.join(question,
                        condition=answer.question == question.id).select(
                        answer.response, question.id, answer.number,
                        where=in_ids(answer.response, sub_ids) & clause,
                        order_by=[answer.response, question.sequence,
                            question.id]))
                for response_id, question_id, number in cursor:
                    low.setdefault(response_id, []).append(
                        (question_id, number))
            if not low:
                return
            done = {a.resource.id for a in Activity.search([
                        ('resource', 'in', [
                                str(r) for r in responses if r.id in low]),
                        ])}
            type_ = configuration.get_survey_follow_up_type()
            days = configuration.survey_follow_up_days or 0
            to_create = []
            # In the language of the company's users, not of the page the
            # customer answered on
            with Transaction().set_context(
                    language=IrConfiguration.get_language()):
                for response in cls.browse([r.id for r in responses
                            if r.id in low and r.id not in done]):
                    company = response.survey.company
                    with Transaction().set_context(company=company.id):
                        today = Date.today()
                    questions = {q.id: q for q in response.survey.questions}
                    lines = [
                        gettext('crm_survey.msg_follow_up_line',
                            question=questions[q].name, value=int(n))
                        for q, n in low[response.id]]
                    to_create.append({
                            'company': company.id,
                            'type': type_.id,
                            'summary': gettext(
                                'crm_survey.msg_follow_up_summary',
                                survey=response.survey.name,
                                party=response.party.rec_name),
                            'description': '\n'.join(lines),
                            'planned_date': dt.datetime.combine(
                                today, dt.time(9)),
                            'deadline': today + dt.timedelta(days=days),
                            'employee': (
                                cls._survey_follow_up_employee(response)),
                            'party': response.party.id,
                            'resource': str(response),
                            })
            if to_create:
                Activity.create(to_create)

    @classmethod
    def _survey_follow_up_employee(cls, response):
        """Return the id of the employee who follows up the response or None

        The owner of the party: the employee of the record the invitation
        is about (the salesperson of an opportunity, the agent of a
        ticket), else the salesperson of the party's latest opportunity of
        the company, else the employee of the user who created the survey;
        unassigned when none works for the survey's company."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        company = response.survey.company
        origin = response.invitation.origin if response.invitation else None
        employee = getattr(origin, 'employee', None)
        if (getattr(employee, '__name__', None) == 'company.employee'
                and employee.company == company):
            return employee.id
        opportunities = Opportunity.search([
                ('party', '=', response.party.id),
                ('company', '=', company.id),
                ('employee', '!=', None),
                ], order=[('start_date', 'DESC'), ('id', 'DESC')], limit=1)
        if opportunities:
            return opportunities[0].employee.id
        creator = response.survey.create_uid
        employee = creator.employee if creator else None
        if employee and employee.company == company:
            return employee.id


class Configuration(metaclass=PoolMeta):
    __name__ = 'crm.configuration'

    survey_follow_up_nps = fields.Integer(
        "Follow Up NPS at Most",
        domain=['OR',
            ('survey_follow_up_nps', '=', None),
            [('survey_follow_up_nps', '>=', 0),
                ('survey_follow_up_nps', '<=', 10)],
            ],
        help="A response with an NPS answer at most this gets a follow-up "
        "activity.\nLeave empty for none.")
    survey_follow_up_score = fields.Integer(
        "Follow Up CSAT or Rating at Most",
        domain=['OR',
            ('survey_follow_up_score', '=', None),
            [('survey_follow_up_score', '>=', 1),
                ('survey_follow_up_score', '<=', 5)],
            ],
        help="A response with a CSAT or rating answer at most this gets a "
        "follow-up activity.\nLeave empty for none.")
    survey_follow_up_days = fields.Integer(
        "Follow-up Days",
        domain=['OR',
            ('survey_follow_up_days', '=', None),
            ('survey_follow_up_days', '>=', 0),
            ],
        help="The follow-up activity is due this many days after the "
        "response.")
    survey_follow_up_type = fields.Many2One(
        'crm.activity.type', "Follow-up Type", ondelete='RESTRICT',
        help="The type of the follow-up activities; a to-do when empty.")

    @classmethod
    def default_survey_follow_up_nps(cls):
        return 6

    @classmethod
    def default_survey_follow_up_score(cls):
        return 2

    @classmethod
    def default_survey_follow_up_days(cls):
        return 2

    def get_survey_follow_up_type(self):
        "The activity type of the follow-ups"
        pool = Pool()
        ActivityType = pool.get('crm.activity.type')
        ModelData = pool.get('ir.model.data')
        if self.survey_follow_up_type:
            return self.survey_follow_up_type
        return ActivityType(
            ModelData.get_id('crm_core', 'activity_type_todo'))


class Activity(metaclass=PoolMeta):
    __name__ = 'crm.activity'

    @classmethod
    def _get_resources(cls):
        return super()._get_resources() + ['crm.survey.response']


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    survey_nps = fields.Function(fields.Integer(
            "Latest NPS",
            help="The latest answer of the party to a Net Promoter Score "
            "question, from 0 to 10."),
        'get_survey_scores')
    survey_nps_date = fields.Function(fields.Date(
            "Latest NPS Date"), 'get_survey_scores')
    survey_csat = fields.Function(fields.Integer(
            "Latest CSAT",
            help="The latest answer of the party to a satisfaction question, "
            "from 1 to 5."),
        'get_survey_scores')
    survey_csat_date = fields.Function(fields.Date(
            "Latest CSAT Date"), 'get_survey_scores')
    survey_responses = fields.Function(fields.Many2Many(
            'crm.survey.response', None, None, "Surveys",
            help="The submitted survey responses of the party, the latest "
            "first."),
        'get_crm_records')

    @classmethod
    def _crm_records_domains(cls):
        domains = super()._crm_records_domains()
        domains['survey_responses'] = (
            'crm.survey.response', 'party',
            [('state', '=', 'submitted')],
            [('submit_date', 'DESC'), ('id', 'DESC')])
        return domains

    @classmethod
    def _survey_latest(cls, parties, type_):
        """Return {party id: (value, date)} of the latest answer of the
        parties to a question of the type, among the responses the user may
        read"""
        pool = Pool()
        Response = pool.get('crm.survey.response')
        Question = pool.get('crm.survey.question')
        Answer = pool.get('crm.survey.answer')
        context = Transaction().context
        response = Response.__table__()
        question = Question.__table__()
        answer = Answer.__table__()
        cursor = Transaction().connection.cursor()
        result = {}
        # the responses the user may read: getters run without access check
        rule = read_domain('crm.survey.response')
        if rule is None:
            return result
        domain = [('state', '=', 'submitted')]
        if rule:
            domain.append(rule)
        if context.get('company'):
            domain.append(('survey.company', '=', context['company']))
        readable = Response.search(domain, order=[], query=True)
        for sub_ids in grouped_slice(
                [p.id for p in parties], backend.MAX_QUERY_PARAMS):
            rank = RowNumber(window=Window([response.party], order_by=[
                        response.submit_date.desc, response.id.desc]))
            ranked = answer.join(response,
                condition=answer.response == response.id
                ).join(question, condition=answer.question == question.id
                ).select(
                    response.party.as_('party'),
                    answer.number.as_('number'),
                    response.submit_date.as_('date'),
                    rank.as_('rank'),
                    where=in_ids(response.party, sub_ids)
                    & (question.type == type_)
                    & (answer.number != Null)
                    & response.id.in_(readable))
            cursor.execute(*ranked.select(
                    ranked.party, ranked.number, ranked.date,
                    where=ranked.rank == 1))
            for party, number, date in cursor:
                if isinstance(date, str):
                    date = dt.datetime.fromisoformat(date)
                result[party] = (int(number), date.date() if date else None)
        return result

    @classmethod
    def get_survey_scores(cls, parties, names):
        result = {n: {p.id: None for p in parties} for n in names}
        for type_ in ['nps', 'csat']:
            if not ({f'survey_{type_}', f'survey_{type_}_date'} & set(names)):
                continue
            for party, (value, date) in cls._survey_latest(
                    parties, type_).items():
                if f'survey_{type_}' in result:
                    result[f'survey_{type_}'][party] = value
                if f'survey_{type_}_date' in result:
                    result[f'survey_{type_}_date'][party] = date
        return result

    @classmethod
    def _crm_health_components(cls, parties):
        """The latest NPS answer of the customer: 0 scores 0, 10 scores 100;
        without an answer it is neutral"""
        components = super()._crm_health_components(parties)
        latest = cls._survey_latest(parties, 'nps')
        string = gettext('crm_survey.msg_health_survey')
        for party in parties:
            if party.id in latest:
                value, date = latest[party.id]
                component = HealthComponent(
                    'survey', string, value * 10,
                    gettext('crm_survey.msg_health_survey_nps',
                        value=value, date=date))
            else:
                component = HealthComponent(
                    'survey', string, NEUTRAL,
                    gettext('crm_survey.msg_health_survey_none'))
            components.setdefault(party.id, []).append(component)
        return components


class Timeline(metaclass=PoolMeta):
    __name__ = 'crm.timeline'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.kind.selection += [
            ('survey_response', "Survey Answered"),
            ]

    @classmethod
    def _timeline_resources(cls):
        return super()._timeline_resources() + ['crm.survey.response']

    @classmethod
    def _timeline_sources(cls):
        pool = Pool()
        Survey = pool.get('crm.survey')
        Response = pool.get('crm.survey.response')
        response = Response.__table__()
        survey = Survey.__table__()
        query = response.join(survey, condition=response.survey == survey.id)
        return super()._timeline_sources() + [
            TimelineSource(60, 'crm.survey.response', query.select(
                    response.id, survey.company, response.party,
                    DateOf(response.submit_date),
                    typed('survey_response', 'VARCHAR'), survey.name,
                    typed(None, 'INTEGER'), typed(None, 'NUMERIC'),
                    reference('crm.survey.response', response),
                    where=(response.party != Null)
                    & (response.state == 'submitted')),
                {'survey.company': survey.company}),
            ]


class ResponsesXLSX(Report):
    """Export the submitted responses of a survey to a spreadsheet: one row
    per response, one column per question (per row of a matrix), the
    options of a multiple choice joined"""
    __name__ = 'crm.survey.responses.xlsx'

    @classmethod
    def execute(cls, ids, data):
        pool = Pool()
        ActionReport = pool.get('ir.action.report')
        Survey = pool.get('crm.survey')
        action_report, = ActionReport.search([
                ('report_name', '=', cls.__name__),
                ], limit=1)
        cls.check_access(action_report, 'crm.survey', ids)
        surveys = Survey.browse(ids)
        return ('xlsx', cls.render_xlsx(surveys), False,
            action_report.name)

    @classmethod
    def _columns(cls, survey):
        "Return [(question, option or None, title)] of the survey"
        columns = []
        for question in survey.ordered_questions():
            if question.type == 'section':
                continue
            if question.type == 'matrix':
                for option in question.options:
                    columns.append((question, option,
                            f'{question.name}: {option.name}'))
            else:
                columns.append((question, None, question.name))
        return columns

    @classmethod
    def _rows(cls, survey):
        """Yield (response, {(question id, row option id or None): value})
        of the submitted responses the user may read, in submission order"""
        pool = Pool()
        Response = pool.get('crm.survey.response')
        Answer = pool.get('crm.survey.answer')
        answer = Answer.__table__()
        cursor = Transaction().connection.cursor()
        options = {o.id: o.name for q in survey.questions for o in q.options}
        types = {q.id: q.type for q in survey.questions}
        responses = Response.search([
                ('survey', '=', survey.id),
                ('state', '=', 'submitted'),
                ], order=[('submit_date', 'ASC'), ('id', 'ASC')])
        for sub_responses in grouped_slice(responses, 1000):
            sub_responses = list(sub_responses)
            values = {r.id: {} for r in sub_responses}
            cursor.execute(*answer.select(
                    answer.response, answer.question, answer.option,
                    answer.text, answer.number, answer.date,
                    where=in_ids(
                        answer.response, [r.id for r in sub_responses]),
                    order_by=[answer.response, answer.id]))
            for response_id, question, option, text, number, date in cursor:
                row = values[response_id]
                type_ = types.get(question)
                if type_ == 'matrix':
                    row[question, option] = int(number)
                elif type_ == 'multiple':
                    row.setdefault((question, None), []).append(
                        options.get(option, ''))
                elif type_ == 'single':
                    row[question, None] = options.get(option, '')
                elif type_ in {'rating', 'nps', 'csat'}:
                    row[question, None] = int(number)
                elif type_ == 'number':
                    row[question, None] = number
                elif type_ == 'date':
                    if isinstance(date, str):
                        date = dt.date.fromisoformat(date)
                    row[question, None] = date
                else:
                    row[question, None] = text
            for response in sub_responses:
                yield response, values[response.id]

    @classmethod
    def render_xlsx(cls, surveys):
        import xlsxwriter

        pool = Pool()
        Response = pool.get('crm.survey.response')
        strings = Response.fields_get(['id', 'submit_date', 'party'])
        output = io.BytesIO()
        workbook = xlsxwriter.Workbook(output, {'in_memory': True})
        bold = workbook.add_format({'bold': True})
        date_format = workbook.add_format({'num_format': 'yyyy-mm-dd'})
        datetime_format = workbook.add_format(
            {'num_format': 'yyyy-mm-dd hh:mm'})
        names = set()
        for survey in surveys:
            # Excel refuses some characters in sheet names and repeats
            name = re.sub(r'[\[\]:*?/\\]', '-', survey.name)[:28]
            while name in names:
                name = name[:26] + f'-{len(names)}'
            names.add(name)
            sheet = workbook.add_worksheet(name)
            columns = cls._columns(survey)
            titles = [strings['id']['string'],
                strings['submit_date']['string'],
                strings['party']['string']] + [t for _, _, t in columns]
            for column, title in enumerate(titles):
                sheet.write_string(0, column, title, bold)
                sheet.set_column(column, column, 18)
            for row, (response, values) in enumerate(
                    cls._rows(survey), 1):
                sheet.write_number(row, 0, response.id)
                if response.submit_date:
                    sheet.write_datetime(
                        row, 1, response.submit_date, datetime_format)
                if response.party:
                    sheet.write_string(row, 2, response.party.rec_name)
                for column, (question, option, _) in enumerate(columns, 3):
                    value = values.get((question.id, option and option.id))
                    if value is None:
                        continue
                    if isinstance(value, list):
                        sheet.write_string(row, column, ', '.join(value))
                    elif isinstance(value, dt.date):
                        sheet.write_datetime(row, column, value, date_format)
                    elif isinstance(value, (int, float)):
                        sheet.write_number(row, column, value)
                    else:
                        sheet.write_string(row, column, value)
        workbook.close()
        return output.getvalue()
