# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The rules of answering a survey, apart from the web: which questions are
shown given the answers so far, and the values of a posted form checked
question by question

The values of the answers are, by question id: the option id of a single
choice, the set of option ids of a multiple choice, the {row option id:
value} of a matrix, a str for a text, a float for a number, an int for a
scale (rating, NPS, CSAT) and a datetime.date for a date."""
import datetime as dt
import re

from trytond.i18n import gettext
from trytond.modules.crm_core.lead_capture import UNSAFE_CHARACTERS

from .survey import CHAR_SIZE, TEXT_SIZE

_NUMBER = re.compile(r'[-+]?[0-9]{1,15}(?:[.,][0-9]{1,6})?', re.ASCII)
_DATE = re.compile(r'[0-9]{4}-[0-9]{2}-[0-9]{2}', re.ASCII)
_INTEGER = re.compile(r'[0-9]{1,9}', re.ASCII)


def _(name, **variables):
    return gettext('crm_survey.msg_survey_page_' + name, **variables)


def field_name(question, option=None):
    "The name of the form field of the question (and of its option)"
    if option is None:
        return f'q{question.id}'
    return f'q{question.id}.{option.id}'


def selected_options(question, values):
    "Return the ids of the options chosen for the choice question"
    value = values.get(question.id)
    if value is None:
        return set()
    if question.type == 'single':
        return {value}
    if question.type == 'multiple':
        return set(value)
    return set()


def visible_questions(questions, values):
    """Return the ids of the questions shown, in order, given the values

    A question with a condition is shown when the earlier question of its
    condition is shown and one of the condition's options is chosen. A
    section is shown when a question after it (before the next section)
    is."""
    visible = set()
    for question in questions:
        condition = question.condition_question
        if condition:
            if condition.id not in visible:
                continue
            wanted = {o.id for o in question.condition_options}
            if not (wanted & selected_options(condition, values)):
                continue
        visible.add(question.id)
    # The sections without a shown question are not shown
    result, section, pending = [], None, False
    for question in questions:
        if question.id not in visible:
            continue
        if question.type == 'section':
            section, pending = question.id, True
            continue
        if pending:
            result.append(section)
            pending = False
        result.append(question.id)
    return result


def _text(question, raw, size, multiline):
    if UNSAFE_CHARACTERS & set(raw):
        return None, _('control')
    value = raw.strip()
    if not multiline:
        value = ' '.join(value.split())
    if len(value) > size:
        return None, _('size', size=size)
    return value or None, None


def _scale(question, raw, scale):
    low, high = scale
    if not _INTEGER.fullmatch(raw) or not (low <= int(raw) <= high):
        return None, _('scale', low=low, high=high)
    return int(raw), None


def parse_value(question, form):
    """Return the value of the question in the form and the message of its
    problem (or None)"""
    type_ = question.type
    name = field_name(question)
    if type_ in {'single', 'multiple', 'matrix'}:
        options = {o.id: o for o in question.options}
    if type_ == 'single':
        raw = form.get(name, '')
        if not raw:
            return None, None
        if not _INTEGER.fullmatch(raw) or int(raw) not in options:
            return None, _('choice')
        return int(raw), None
    elif type_ == 'multiple':
        chosen = {i for i, o in options.items()
            if form.get(field_name(question, o))}
        return (chosen or None), None
    elif type_ == 'matrix':
        rows = {}
        for i, option in options.items():
            raw = form.get(field_name(question, option), '')
            if not raw:
                continue
            value, problem = _scale(question, raw, question.scale)
            if problem:
                return None, problem
            rows[i] = value
        return (rows or None), None
    raw = form.get(name, '')
    if type_ in {'char', 'text'}:
        return _text(
            question, raw, CHAR_SIZE if type_ == 'char' else TEXT_SIZE,
            multiline=type_ == 'text')
    raw = raw.strip()
    if not raw:
        return None, None
    if type_ == 'number':
        if not _NUMBER.fullmatch(raw):
            return None, _('number')
        value = float(raw.replace(',', '.'))
        if question.minimum is not None and value < question.minimum:
            return None, _('number_min', minimum=_format(question.minimum))
        if question.maximum is not None and value > question.maximum:
            return None, _('number_max', maximum=_format(question.maximum))
        return value, None
    elif type_ == 'date':
        try:
            if not _DATE.fullmatch(raw):
                raise ValueError
            return dt.date.fromisoformat(raw), None
        except ValueError:
            return None, _('date')
    elif type_ in {'rating', 'nps', 'csat'}:
        return _scale(question, raw, question.scale)
    return None, None


def _format(number):
    "The number without a useless decimal part"
    return str(int(number)) if float(number).is_integer() else str(number)


def parse_answers(questions, form, submit=False):
    """Return the values of the questions shown, the ids of those shown and
    the problems by question id

    The values are read from the form for every question, then those of the
    questions not shown are dropped. On submit, a required question shown
    must be answered (every row of a matrix)."""
    values, problems = {}, {}
    for question in questions:
        if question.type == 'section':
            continue
        value, problem = parse_value(question, form)
        if problem:
            problems[question.id] = problem
        elif value is not None:
            values[question.id] = value
    shown = visible_questions(questions, values)
    values = {k: v for k, v in values.items() if k in shown}
    problems = {k: v for k, v in problems.items() if k in shown}
    if submit:
        for question in questions:
            if (question.id not in shown or question.id in problems
                    or not question.required):
                continue
            value = values.get(question.id)
            if value is None:
                problems[question.id] = _('required')
            elif question.type == 'matrix' and (
                    set(value) != {o.id for o in question.options}):
                problems[question.id] = _('matrix_required')
    return values, shown, problems


def form_of(questions, values):
    "Return the form fields of the values, as a post would give them"
    form = {}
    for question in questions:
        value = values.get(question.id)
        if value is None:
            continue
        if question.type == 'multiple':
            for option in question.options:
                if option.id in value:
                    form[field_name(question, option)] = '1'
        elif question.type == 'matrix':
            for option in question.options:
                if option.id in value:
                    form[field_name(question, option)] = str(
                        value[option.id])
        elif question.type == 'number':
            form[field_name(question)] = _format(value)
        elif question.type == 'date':
            form[field_name(question)] = value.isoformat()
        else:
            form[field_name(question)] = str(value)
    return form
