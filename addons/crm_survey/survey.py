# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The designer of the surveys: a survey, its questions (and sections) in
order, and the options of the choice and matrix questions"""
import datetime as dt

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Workflow, fields, sequence_ordered)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, If
from trytond.transaction import Transaction

from .exceptions import SurveyError

# The types of question; a section only titles the questions after it
CHOICE_TYPES = {'single', 'multiple'}
SCALE_TYPES = {'rating': (1, 5), 'nps': (0, 10), 'csat': (1, 5)}
MATRIX_SCALE = (1, 5)
ANSWERED_TYPES = {
    'single', 'multiple', 'char', 'text', 'number', 'date', 'rating', 'nps',
    'csat', 'matrix'}
#: The maximal length in characters of a short and a long text answer
CHAR_SIZE = 200
TEXT_SIZE = 4000


class Survey(DeactivableMixin, Workflow, ModelSQL, ModelView):
    "Survey"
    __string__ = "Survey"
    __name__ = 'crm.survey'

    _states = {
        'readonly': Eval('state') != 'draft',
        }

    name = fields.Char("Title", required=True, translate=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        states=_states)
    intro = fields.Text(
        "Introduction", translate=True,
        help="The text shown above the questions.")
    thanks = fields.Text(
        "Thank-you Text", translate=True,
        help="The text shown once the answers are submitted.")
    language = fields.Many2One(
        'ir.lang', "Language", ondelete='RESTRICT',
        domain=[('translatable', '=', True)],
        help="The language of the answer page.\n"
        "Leave empty to answer in the language of the browser.")
    anonymous = fields.Boolean(
        "Anonymous", states=_states,
        help="The responses keep no party.")
    open_date = fields.Date(
        "Open Date",
        domain=[If(Bool(Eval('open_date')) & Bool(Eval('close_date')),
                ('open_date', '<=', Eval('close_date')), ())],
        help="The first day the survey can be answered.")
    close_date = fields.Date(
        "Close Date",
        domain=[If(Bool(Eval('open_date')) & Bool(Eval('close_date')),
                ('close_date', '>=', Eval('open_date')), ())],
        help="The last day the survey can be answered.")
    questions = fields.One2Many(
        'crm.survey.question', 'survey', "Questions", states=_states)
    state = fields.Selection([
            ('draft', "Draft"),
            ('open', "Open"),
            ('closed', "Closed"),
            ], "State", readonly=True, required=True, sort=False)

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'open'),
            ('open', 'closed'),
            ('closed', 'open'),
            ('open', 'draft'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'open': {
                    'invisible': ~Eval('state').in_(['draft', 'closed']),
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': Eval('state') != 'open',
                    'icon': 'tryton-close',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_anonymous(cls):
        return False

    @classmethod
    def copy(cls, surveys, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('state', 'draft')
        return super().copy(surveys, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, surveys):
        pool = Pool()
        Response = pool.get('crm.survey.response')
        for survey in surveys:
            if Response.search([('survey', '=', survey.id)], limit=1):
                raise AccessError(gettext(
                        'crm_survey.msg_survey_draft_responses',
                        survey=survey.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('open')
    def open(cls, surveys):
        for survey in surveys:
            survey.check_questions()

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, surveys):
        pass

    def check_questions(self):
        "Check that the survey can be answered"
        if not any(q.type in ANSWERED_TYPES for q in self.questions):
            raise SurveyError(gettext(
                    'crm_survey.msg_survey_no_question',
                    survey=self.rec_name))
        for question in self.questions:
            question.check_options()
        Question = self.__class__.questions.get_target()
        Question.check_condition(self.questions)

    @classmethod
    def check_modification(cls, mode, surveys, values=None, external=False):
        super().check_modification(
            mode, surveys, values=values, external=external)
        if mode == 'delete':
            for survey in surveys:
                if survey.state != 'draft':
                    raise AccessError(gettext(
                            'crm_survey.msg_survey_delete_draft',
                            survey=survey.rec_name))

    def accepts_answers(self, date=None):
        "Whether the survey can be answered on the date (by default today)"
        if date is None:
            date = dt.date.today()
        return (self.state == 'open' and self.active
            and (not self.open_date or self.open_date <= date)
            and (not self.close_date or date <= self.close_date))

    def ordered_questions(self):
        "Return the questions in the order they are asked"
        # As the database orders them: sequence_ordered puts no sequence
        # first
        return sorted(self.questions,
            key=lambda q: (q.sequence is not None, q.sequence or 0, q.id))


class Question(sequence_ordered(), ModelSQL, ModelView):
    "Survey Question"
    __string__ = "Survey Question"
    __name__ = 'crm.survey.question'

    survey = fields.Many2One(
        'crm.survey', "Survey", required=True, ondelete='CASCADE')
    name = fields.Char("Question", required=True, translate=True)
    type = fields.Selection([
            ('section', "Section"),
            ('single', "Single Choice"),
            ('multiple', "Multiple Choice"),
            ('char', "Short Text"),
            ('text', "Long Text"),
            ('number', "Number"),
            ('date', "Date"),
            ('rating', "Rating (1-5)"),
            ('nps', "Net Promoter Score (0-10)"),
            ('csat', "Satisfaction (CSAT)"),
            ('matrix', "Matrix"),
            ], "Type", required=True, sort=False,
        help="A section titles the questions after it.")
    required = fields.Boolean(
        "Required",
        states={
            'invisible': Eval('type') == 'section',
            })
    help = fields.Text(
        "Help", translate=True,
        help="The text shown under the question.")
    minimum = fields.Float(
        "Minimum",
        states={
            'invisible': Eval('type') != 'number',
            },
        help="The smallest number accepted.")
    maximum = fields.Float(
        "Maximum",
        states={
            'invisible': Eval('type') != 'number',
            },
        help="The largest number accepted.")
    options = fields.One2Many(
        'crm.survey.question.option', 'question', "Options",
        states={
            'invisible': ~Eval('type').in_(['single', 'multiple', 'matrix']),
            },
        help="The choices, or the rows of a matrix.")
    condition_question = fields.Many2One(
        'crm.survey.question', "Shown If Question",
        domain=[
            ('survey', '=', Eval('survey', -1)),
            ('type', 'in', ['single', 'multiple']),
            ('id', '!=', Eval('id', -1)),
            ],
        help="Ask this question only when the answer to that earlier "
        "question is one of the options below.")
    condition_options = fields.Many2Many(
        'crm.survey.question-condition-crm.survey.question.option',
        'question', 'option', "Shown If Options",
        domain=[
            ('question', '=', Eval('condition_question', -1)),
            ],
        states={
            'invisible': ~Eval('condition_question'),
            'required': Bool(Eval('condition_question')),
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('survey')

    @classmethod
    def default_type(cls):
        return 'single'

    @classmethod
    def default_required(cls):
        return False

    @fields.depends('type', 'required')
    def on_change_type(self):
        if self.type == 'section':
            self.required = False

    @fields.depends('condition_question', 'condition_options')
    def on_change_condition_question(self):
        if not self.condition_question:
            self.condition_options = []
        else:
            self.condition_options = [
                o for o in (self.condition_options or [])
                if o.question == self.condition_question]

    @property
    def scale(self):
        "The (lowest, highest) value of a scale question or None"
        if self.type in SCALE_TYPES:
            return SCALE_TYPES[self.type]
        if self.type == 'matrix':
            return MATRIX_SCALE

    @classmethod
    def validate_fields(cls, questions, field_names):
        super().validate_fields(questions, field_names)
        cls.check_bounds(questions, field_names)
        cls.check_condition(questions, field_names)

    @classmethod
    def check_bounds(cls, questions, field_names=None):
        if field_names and not (field_names & {'minimum', 'maximum'}):
            return
        for question in questions:
            if (question.minimum is not None
                    and question.maximum is not None
                    and question.minimum > question.maximum):
                raise SurveyError(gettext(
                        'crm_survey.msg_question_bounds',
                        question=question.rec_name,
                        survey=question.survey.rec_name))

    @classmethod
    def check_condition(cls, questions, field_names=None):
        if field_names and not (field_names & {
                    'condition_question', 'condition_options', 'sequence',
                    'survey'}):
            return
        for question in questions:
            condition = question.condition_question
            if not condition:
                continue
            order = question.survey.ordered_questions()
            if (condition.survey != question.survey
                    or order.index(condition) > order.index(question)
                    or condition == question):
                raise SurveyError(gettext(
                        'crm_survey.msg_question_condition_later',
                        question=question.rec_name,
                        condition=condition.rec_name))
            for option in question.condition_options:
                if option.question != condition:
                    raise SurveyError(gettext(
                            'crm_survey.msg_question_condition_option',
                            question=question.rec_name,
                            option=option.rec_name,
                            condition=condition.rec_name))

    def check_options(self):
        "Check that a choice or matrix question has options"
        if self.type in {'single', 'multiple', 'matrix'} and not self.options:
            raise SurveyError(gettext(
                    'crm_survey.msg_question_no_option',
                    question=self.rec_name,
                    survey=self.survey.rec_name))


class QuestionOption(sequence_ordered(), ModelSQL, ModelView):
    "Survey Question Option"
    __string__ = "Survey Question Option"
    __name__ = 'crm.survey.question.option'

    question = fields.Many2One(
        'crm.survey.question', "Question", required=True,
        ondelete='CASCADE')
    name = fields.Char("Option", required=True, translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('question')


class QuestionConditionOption(ModelSQL):
    "Survey Question Condition Option"
    __string__ = "Survey Question Condition Option"
    __name__ = 'crm.survey.question-condition-crm.survey.question.option'

    question = fields.Many2One(
        'crm.survey.question', "Question", required=True,
        ondelete='CASCADE')
    option = fields.Many2One(
        'crm.survey.question.option', "Option", required=True,
        ondelete='CASCADE')

